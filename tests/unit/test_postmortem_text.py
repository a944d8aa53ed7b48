"""The postmortem's status moves, this incident's MTTA and MTTR, and the template filled with facts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from importlib import resources

import pytest

from pager.core.postmortem_text import (
    TemplateInvalid,
    cell,
    refresh_action_items,
    render_postmortem,
)
from pager.core.postmortems import (
    ActionItemLine,
    LinkedAlert,
    PageSent,
    PostmortemFacts,
    PostmortemMoveRefused,
    RoleSpell,
    TimelineLine,
    check_postmortem_move,
    format_span,
    time_to_acknowledge,
    time_to_resolve,
)

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
TEMPLATE = resources.files("pager").joinpath("templates/postmortem.md").read_text(encoding="utf-8")


def facts(**changes: object) -> PostmortemFacts:
    milestones: dict[str, datetime | None] = {
        "impact_started": T0 - timedelta(minutes=10),
        "detected": T0 - timedelta(minutes=2),
        "declared": T0,
        "acknowledged": T0 + timedelta(minutes=3),
        "identified": None,
        "mitigated": T0 + timedelta(minutes=40),
        "resolved": T0 + timedelta(hours=1, minutes=5),
        "closed": None,
    }
    base = {
        "number": 12,
        "title": "Checkout | payments down",
        "severity": "SEV1",
        "status": "resolved",
        "drill": False,
        "customer_impact": True,
        "declared_by": "alice",
        "services": ("api",),
        "milestones": milestones,
    }
    base.update(changes)
    return PostmortemFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("current", "target"),
    [("draft", "in_review"), ("in_review", "draft"), ("in_review", "published")],
)
def test_allowed_moves(current: str, target: str) -> None:
    assert check_postmortem_move(current, target) == target


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        ("draft", "published", "a draft postmortem cannot move to published; it may move to in_review"),
        ("published", "draft", "the postmortem is published: that is final"),
        ("published", "in_review", "the postmortem is published: that is final"),
        ("draft", "draft", "the postmortem is already draft"),
        ("draft", "done", "unknown postmortem status 'done': use one of draft, in_review, published"),
    ],
)
def test_bad_moves_are_refused(current: str, target: str, message: str) -> None:
    with pytest.raises(PostmortemMoveRefused) as refused:
        check_postmortem_move(current, target)
    assert str(refused.value) == message


def test_mtta_is_declared_to_acknowledged_else_the_first_alerts_own() -> None:
    assert time_to_acknowledge(facts()).span == timedelta(minutes=3)
    without = dict(facts().milestones, acknowledged=None)
    alerts = (
        LinkedAlert(8, "api", "later", T0 + timedelta(minutes=1), T0 + timedelta(minutes=2), "bob", None),
        LinkedAlert(7, "api", "first", T0 - timedelta(minutes=2), T0 + timedelta(minutes=5), "alice", None),
    )
    metric = time_to_acknowledge(facts(milestones=without, alerts=alerts))
    assert (metric.span, metric.basis) == (timedelta(minutes=7), "alert 7 triggered → acknowledged")
    assert time_to_acknowledge(facts(milestones=without)).span is None


def test_mttr_is_impact_start_or_declared_to_resolved() -> None:
    assert time_to_resolve(facts()).span == timedelta(hours=1, minutes=15)
    no_impact_start = dict(facts().milestones, impact_started=None)
    assert time_to_resolve(facts(milestones=no_impact_start)).span == timedelta(hours=1, minutes=5)
    open_one = dict(facts().milestones, resolved=None)
    assert time_to_resolve(facts(milestones=open_one)).span is None


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (None, "—"),
        (timedelta(seconds=45), "45s"),
        (timedelta(minutes=4, seconds=5), "4m 05s"),
        (timedelta(hours=1, minutes=5, seconds=59), "1h 05m"),
        (timedelta(days=2, hours=3, minutes=10), "2d 03h 10m"),
    ],
)
def test_spans_read_like_a_person_writes_them(span: timedelta | None, text: str) -> None:
    assert format_span(span) == text


def test_cells_stay_on_one_line_and_in_their_column() -> None:
    assert cell("a | b\nc") == "a \\| b c"


def test_the_template_is_filled_section_by_section() -> None:
    body = render_postmortem(
        TEMPLATE,
        facts(
            roles=(RoleSpell("commander", "alice", T0, None, "alice", "declared it"),),
            pages=(PageSent(T0 - timedelta(minutes=1), "alice", "sms", "sent", "alert 7"),),
            timeline=(TimelineLine(T0, "declared", "alice", "SEV1 declared"),),
            action_items=(ActionItemLine(4, "Add a canary", "bob", date(2026, 3, 9), "open", None),),
        ),
    )
    lines = body.splitlines()
    assert lines[0] == "# Postmortem: incident 12 — Checkout \\| payments down"
    assert "| Severity | SEV1 |" in lines
    assert "| Time to acknowledge (MTTA) | 3m 00s (declared → acknowledged) |" in lines
    assert "| Time to resolve (MTTR) | 1h 15m (impact started → resolved) |" in lines
    assert "| impact_started | 2026-03-02T14:50:00+00:00 |" in lines
    assert "| identified | — |" in lines
    assert "| commander | alice | 2026-03-02T15:00:00+00:00 | — | alice | declared it |" in lines
    assert "| 2026-03-02T14:59:00+00:00 | alice | sms | sent | alert 7 |" in lines
    assert "| 2026-03-02T15:00:00+00:00 | declared | alice | SEV1 declared |" in lines
    assert "| 4 | Add a canary | bob | 2026-03-09 | open |  |" in lines
    assert "_No alerts were linked._" in lines
    for heading in ("Impact", "Root causes", "What went well", "What went badly", "Action items"):
        assert f"## {heading}" in lines
    assert "$" not in body


def test_a_drill_says_so_in_its_title() -> None:
    assert render_postmortem(TEMPLATE, facts(drill=True)).startswith("# [DRILL] Postmortem: incident 12")


def test_a_template_with_an_unknown_placeholder_is_refused() -> None:
    with pytest.raises(TemplateInvalid, match=r"unknown placeholder \$\{owner\}"):
        render_postmortem("# ${title} by ${owner}", facts())


def test_the_action_items_table_is_refreshed_between_its_markers_only() -> None:
    body = render_postmortem(TEMPLATE, facts())
    assert "_None yet: add them with `pager action add`._" in body
    item = ActionItemLine(4, "Add a canary", "bob", date(2026, 3, 9), "done", "https://x.example/4")
    refreshed = refresh_action_items(body, [item])
    assert "| 4 | Add a canary | bob | 2026-03-09 | done | https://x.example/4 |" in refreshed
    assert refreshed.replace(refreshed[refreshed.index("| #") : refreshed.index("<!-- /action")], "") == (
        body.replace(body[body.index("_None yet") : body.index("<!-- /action")], "")
    )
    edited = "# My own words\n\nNo markers here.\n"
    assert refresh_action_items(edited, [item]) == edited
