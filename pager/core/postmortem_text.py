"""The words of a postmortem (docs/incidents.md, "Postmortems"): the Markdown template in
pager/templates/postmortem.md filled with an incident's facts.

The template is `string.Template` text (`${name}` placeholders); the service reads it and passes
it in, so this stays pure. Every cell of a table is escaped, so a title holding `|` or a newline
cannot break the table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from string import Template

from pager.core.incident_model import MILESTONES
from pager.core.localtime import format_instant
from pager.core.postmortems import (
    ActionItemLine,
    PostmortemFacts,
    format_span,
    time_to_acknowledge,
    time_to_resolve,
)

DRILL_MARK = "[DRILL] "
ACTION_ITEMS_START = "<!-- action-items"
ACTION_ITEMS_END = "<!-- /action-items -->"
_ACTION_ITEMS_BLOCK = re.compile(
    r"(?P<start>"
    + re.escape(ACTION_ITEMS_START)
    + r"[^\n]*-->\n)(?P<items>.*?)(?P<end>"
    + re.escape(ACTION_ITEMS_END)
    + ")",
    re.DOTALL,
)


class TemplateInvalid(ValueError):
    """The postmortem template names a placeholder that is not filled, or is malformed."""


def cell(text: object) -> str:
    """`text` fit for one Markdown table cell: one line, `|` escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], empty: str) -> str:
    """A Markdown table, or the `empty` sentence when there are no rows."""
    lines = [[cell(value) for value in row] for row in rows]
    if not lines:
        return empty
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)


def when(instant: object) -> str:
    """An instant as UTC ISO text; `—` for none."""
    return "—" if instant is None else format_instant(instant)  # type: ignore[arg-type]


def action_items_table(items: Sequence[ActionItemLine]) -> str:
    """The action items section's table."""
    return table(
        ["#", "Action", "Owner", "Due", "Status", "Link"],
        [
            (item.id, item.title, item.owner, item.due_on.isoformat(), item.status, item.link or "")
            for item in items
        ],
        "_None yet: add them with `pager action add`._",
    )


def postmortem_fields(facts: PostmortemFacts) -> dict[str, str]:
    """Each placeholder of the template with its text."""
    mtta, mttr = time_to_acknowledge(facts), time_to_resolve(facts)
    return {
        "drill_mark": DRILL_MARK if facts.drill else "",
        "number": str(facts.number),
        "title": cell(facts.title),
        "severity": facts.severity,
        "status": facts.status,
        "services": cell(", ".join(facts.services) or "—"),
        "declared_by": cell(facts.declared_by),
        "customer_impact": "yes" if facts.customer_impact else "no",
        "mtta": format_span(mtta.span),
        "mtta_basis": mtta.basis,
        "mttr": format_span(mttr.span),
        "mttr_basis": mttr.basis,
        "milestones": table(
            ["Milestone", "At (UTC)"],
            [(name, when(facts.milestones.get(name))) for name in MILESTONES],
            "",
        ),
        "roles": table(
            ["Role", "Who", "From", "Until", "Assigned by", "Reason"],
            [
                (s.role, s.handle, when(s.started_at), when(s.ended_at), s.assigned_by, s.reason)
                for s in facts.roles
            ],
            "_No roles were assigned._",
        ),
        "alerts": table(
            ["Alert", "Service", "Summary", "Triggered", "Acknowledged", "By", "Resolved"],
            [
                (
                    a.id,
                    a.service_id,
                    a.summary,
                    when(a.triggered_at),
                    when(a.acknowledged_at),
                    a.acknowledged_by or "—",
                    when(a.resolved_at),
                )
                for a in facts.alerts
            ],
            "_No alerts were linked._",
        ),
        "pages": table(
            ["At", "Who", "Method", "Status", "For"],
            [(when(p.at), p.handle, p.method, p.status, p.cause) for p in facts.pages],
            "_No pages were sent._",
        ),
        "timeline": table(
            ["At", "Kind", "Actor", "What"],
            [(when(t.at), t.kind, t.actor, t.text) for t in facts.timeline],
            "_Nothing recorded._",
        ),
        "action_items": action_items_table(facts.action_items),
    }


def render_postmortem(template: str, facts: PostmortemFacts) -> str:
    """The postmortem's Markdown: `template` (string.Template text) filled with `facts`."""
    try:
        return Template(template).substitute(postmortem_fields(facts))
    except KeyError as exc:
        raise TemplateInvalid(f"postmortem template: unknown placeholder ${{{exc.args[0]}}}") from None
    except ValueError as exc:
        raise TemplateInvalid(f"postmortem template: {exc}") from None


def refresh_action_items(body: str, items: Sequence[ActionItemLine]) -> str:
    """`body` with the table between the action-item markers replaced by `items`; unchanged when
    the writer removed the markers (their text is theirs then)."""
    return _ACTION_ITEMS_BLOCK.sub(
        lambda m: m.group("start") + action_items_table(items) + "\n" + m.group("end"), body, count=1
    )
