"""The response report against a seeded weekend (tests/analytics_seed.py), answers worked out by hand.

Every expected figure below is written as the arithmetic that gives it; docs/analytics.md defines them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from pager.cli import app
from pager.services.analytics.report import response_report
from pager.services.runtime import Runtime
from tests.analytics_seed import FROM, TO, seeded_runtime

pytestmark = pytest.mark.database

H = 3600  # seconds in an hour


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path) -> Runtime:
    return seeded_runtime(engine, tmp_path / "config")


def cli(runtime: Runtime, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("PAGER_DATABASE_URL", runtime.engine.url.render_as_string(hide_password=False))
    config = str(runtime.settings.config_dir)
    return CliRunner().invoke(app, ["--config-dir", config, *args])


def mean(*values: float) -> float:
    return sum(values) / len(values)


# --- the alerts: triggered in the window, not a drill: A1..A6 (A7 is the drill's, A8 came before) ---
# first ack - trigger: A1 10:03 (not the second ack at 10:20) -> 180; A2 snoozed 01:10 - 00:50 -> 1200;
# A3 12:12 - 12:00 -> 720; A4 never acked; A5 21:31 - 21:30 -> 60; A6 23:20 - 23:00 -> 1200.
MTTA = mean(180, 1200, 720, 60, 1200)  # 672.0
# resolved - trigger: A1 30 min, A2 70 min, A3 open, A4 30 min, A5 15 min, A6 40 min.
MTTR = mean(30 * 60, 70 * 60, 30 * 60, 15 * 60, 40 * 60)  # 2220.0

# The ack path: the first page handed over at or before the first ack, per acked alert.
# any method: A1 sms +5s (delivered +12s), A2 sms +10 (+20), A3 berta's sms +3 (+9),
# A5 uma's sms +2 (+4; berta's were refused or cancelled, never handed over), A6 email +1 (no report).
ACK_PATH = {
    "to_first_page_s": mean(5, 10, 3, 2, 1),  # 4.2
    "to_delivered_s": 11.3,  # mean(12, 20, 9, 4) = 11.25, rounded half up
    "to_ack_s": mean(180, 1200, 720, 60, 1200),  # 672.0
}
BY_METHOD = {
    # A1, A2, A3 (berta's at +3, before uma's), A5.
    "sms": {
        "to_first_page_s": mean(5, 10, 3, 2),
        "to_delivered_s": 11.3,
        "to_ack_s": mean(180, 1200, 720, 60),
    },
    # A1's call at +60 (answered +90); A2's at 01:05 = +900 (answered +940). A5's was cancelled.
    "voice": {"to_first_page_s": mean(60, 900), "to_delivered_s": mean(90, 940), "to_ack_s": mean(180, 1200)},
    # A1's email +6, A6's +1; neither reports delivery. A3's email left after its ack: not counted.
    "email": {"to_first_page_s": mean(6, 1), "to_delivered_s": None, "to_ack_s": mean(180, 1200)},
}

# --- incidents declared in the window, not drills: 1 (SEV1), 2 (SEV0), 3 (SEV1); 4 is the drill,
# 5 was declared at `to`. Incident 1 counts from impact_started 09:55, incident 2 from declared 01:00.
INCIDENTS = {
    "count": 3,
    "mtta_s": mean(15 * 60, 150),  # 1: 10:10 - 09:55; 2: 01:02:30 - 01:00; 3 never acked
    "mttr_s": mean(2 * H, 2 * H),  # 1: 11:55 - 09:55; 2: 03:00 - 01:00; 3 open
    "by_severity": {
        "SEV0": {"count": 1, "mtta_s": 150.0, "mttr_s": 2.0 * H},
        "SEV1": {"count": 2, "mtta_s": 900.0, "mttr_s": 2.0 * H},
        "SEV2": {"count": 0, "mtta_s": None, "mttr_s": None},
    },
}

# --- berta (Europe/Berlin), on call 20:00-08:00 local. Her shifts in the window, in UTC:
#   Mar 27 19:00 - Mar 28 07:00 (CET), clipped to 00:00-07:00: 7 h; night 01:00-07:00 local: 6 h
#   Mar 28 19:00 - Mar 29 06:00 (08:00 is CEST by then): 11 h; night 22:00 CET = 21:00Z
#       to 07:00 CEST = 05:00Z: 8 h
#   Mar 29 18:00 - Mar 30 06:00 (CEST): 12 h; night 20:00Z - 05:00Z: 9 h
#   Mar 30 18:00 - Mar 31 06:00, clipped to 00:00Z (02:00 local): 6 h; night 22:00-02:00 local: 4 h
# Her pages handed over in the window (A7's is a drill's, A5's never reached the provider):
#   A8 sms 00:00:30Z = 01:00:30 CET   night, on shift
#   A1 sms, email, voice 10:00-10:01Z = 11:00 CET   day, off shift (x3)
#   A2 sms 00:50:10Z = 01:50:10 CET   night, on shift
#   A2 voice 01:05Z = 03:05 CEST      night, on shift (after the jump)
#   A3 sms 12:00:03Z = 14:00 CEST     day, off shift
#   A4 voice 05:30:30Z = 07:30:30 CEST  not night (06:30 on a CET clock would be), on shift (ends 06:00Z)
BERTA = {
    "user": "berta",
    "pages": 8,
    "night_pages": 3,
    "off_shift_pages": 4,
    "on_call_hours": float(7 + 11 + 12 + 6),
    "night_on_call_hours": float(6 + 8 + 9 + 4),
}
# uma (no zone: UTC), on no schedule, so every page is off shift: A3 sms 12:10 and email 12:15 (day),
# A5 sms 21:30 (before 22:00 in UTC, though 23:30 in Berlin), A6 email 23:00 (night).
UMA = {
    "user": "uma",
    "pages": 4,
    "night_pages": 1,
    "off_shift_pages": 4,
    "on_call_hours": 0.0,
    "night_on_call_hours": 0.0,
}

EXPECTED = {
    "from": "2026-03-28T00:00:00+00:00",
    "to": "2026-03-31T00:00:00+00:00",
    "drills_excluded": 1,
    "alerts": {"count": 6, "mtta_s": MTTA, "mttr_s": MTTR, "ack_path": ACK_PATH, "by_method": BY_METHOD},
    "incidents": INCIDENTS,
    "responders": [BERTA, UMA],
}


def test_pager_report_json_matches_the_hand_computed_answer(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = cli(
        runtime,
        monkeypatch,
        "report",
        "--from",
        "2026-03-28T00:00:00Z",
        "--to",
        "2026-03-31T00:00:00Z",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == EXPECTED


def test_the_service_filter_narrows_alerts_pages_and_incidents(runtime: Runtime) -> None:
    report = response_report(runtime.engine, runtime.config, FROM, TO, "web")
    # Only A6 (web): acked after 20 min, resolved after 40; its one page an email at +1 s.
    none = {"to_first_page_s": None, "to_delivered_s": None, "to_ack_s": None}
    email = {"to_first_page_s": 1.0, "to_delivered_s": None, "to_ack_s": 1200.0}
    assert report["alerts"] == {
        "count": 1,
        "mtta_s": 1200.0,
        "mttr_s": 2400.0,
        "ack_path": email,
        "by_method": {"sms": none, "voice": none, "email": email},
    }
    # Incident 3 (web): neither acknowledged nor resolved; the drill was api's.
    assert (report["incidents"]["count"], report["incidents"]["mtta_s"], report["drills_excluded"]) == (
        1,
        None,
        0,
    )
    # berta's on-call hours stand (they are not a service's); her pages were all api's. uma: A6's email.
    assert report["responders"] == [
        {**BERTA, "pages": 0, "night_pages": 0, "off_shift_pages": 0},
        {**UMA, "pages": 1, "night_pages": 1, "off_shift_pages": 1},
    ]


def test_an_empty_window_has_nulls_not_zeros(runtime: Runtime) -> None:
    start, end = datetime(2026, 4, 10, tzinfo=UTC), datetime(2026, 4, 11, tzinfo=UTC)
    report = response_report(runtime.engine, runtime.config, start, end)
    assert report["alerts"]["count"] == 0
    assert report["alerts"]["mtta_s"] is None and report["alerts"]["ack_path"]["to_ack_s"] is None
    assert report["incidents"]["mttr_s"] is None
    # berta is on call that day, so she is listed with no pages: 00:00-06:00Z (02:00-08:00 CEST,
    # night 02:00-07:00 = 5 h) and 18:00-24:00Z (20:00-02:00 CEST, night 22:00-02:00 = 4 h).
    assert report["responders"] == [
        {
            **BERTA,
            "pages": 0,
            "night_pages": 0,
            "off_shift_pages": 0,
            "on_call_hours": 6.0 + 6.0,
            "night_on_call_hours": 5.0 + 4.0,
        }
    ]


def test_the_human_summary_names_the_figures(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    result = cli(
        runtime, monkeypatch, "report", "--from", "2026-03-28T00:00:00Z", "--to", "2026-03-31T00:00:00Z"
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Alerts: 6  MTTA 11m12.0s  MTTR 37m00.0s" in out  # 672 s, 2220 s
    assert "(1 drill(s) left out)" in out
    assert "berta" in out and "36.00" in out and "27.00" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-03-28", "--to", "2026-03-31T00:00:00Z"], "--from: '2026-03-28' has no UTC offset"),
        (["--from", "2026-03-28T00:00:00Z", "--to", "soon"], "--to: 'soon' is not an ISO 8601 instant"),
        (["--from", "2026-03-31T00:00:00Z", "--to", "2026-03-28T00:00:00Z"], "`to` must be after `from`"),
        (["--from", "2025-01-01T00:00:00Z", "--to", "2026-03-28T00:00:00Z"], "at most 400 days"),
        (
            ["--from", "2026-03-28T00:00:00Z", "--to", "2026-03-31T00:00:00Z", "--service", "nope"],
            "no service 'nope'",
        ),
    ],
)
def test_bad_input_is_an_error_naming_it(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    result = cli(runtime, monkeypatch, "report", *args)
    assert result.exit_code == 1
    assert message in result.output
