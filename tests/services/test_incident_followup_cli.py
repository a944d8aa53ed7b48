"""`pager postmortem ...` and `pager action ...` in process against the test database: what they
print, their errors (exit 1, `error: ...`), and that a refused command changes nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from pager.cli import app
from pager.db.session import session_scope
from pager.services.incidents.changes import change_status
from pager.services.incidents.declaring import declare
from pager.services.incidents.postmortems import open_postmortem
from pager.services.runtime import Runtime
from tests.services.test_engine import T0, runtime

__all__ = ["runtime"]

pytestmark = pytest.mark.database


@pytest.fixture
def cli(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("PAGER_DATABASE_URL", runtime.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PAGER_CONFIG_DIR", str(runtime.settings.config_dir))
    return CliRunner()


def pager(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(app, list(args))


def ok(cli: CliRunner, *args: str) -> str:
    result = pager(cli, *args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def error(cli: CliRunner, *args: str) -> str:
    result = pager(cli, *args)
    assert result.exit_code == 1, result.stdout
    return result.stderr.strip()


@pytest.fixture
def incident_id(runtime: Runtime) -> int:
    rules = runtime.config.incidents
    with session_scope(runtime.engine) as session:
        incident = declare(session, rules, title="Checkout errors", severity="SEV1", actor="alice", now=T0)
        assert incident.id is not None
        change_status(session, rules, incident.id, "resolved", actor="alice", now=T0 + timedelta(hours=1))
        open_postmortem(session, incident, rules, T0 + timedelta(hours=1))
        return incident.id


def test_postmortem_show_edit_and_moves(cli: CliRunner, incident_id: int, tmp_path: Path) -> None:
    body = ok(cli, "postmortem", "show", str(incident_id))
    assert body.startswith("# Postmortem: incident 1 — Checkout errors\n")
    document = json.loads(ok(cli, "postmortem", "show", str(incident_id), "--format", "json"))
    assert (document["status"], document["body"]) == ("draft", body)
    assert error(cli, "postmortem", "show", str(incident_id), "--format", "html") == (
        "error: unknown format 'html': use md or json"
    )
    assert error(cli, "postmortem", "publish", str(incident_id)) == (
        f"error: incident {incident_id}: a draft postmortem cannot move to published; "
        "it may move to in_review"
    )
    written = tmp_path / "pm.md"
    written.write_text("# What we learnt\n", encoding="utf-8")
    assert ok(cli, "postmortem", "edit", str(incident_id), "--file", str(written), "--by", "bob") == (
        f"postmortem of incident {incident_id} updated (17 characters)\n"
    )
    missing = tmp_path / "nope.md"
    assert error(cli, "postmortem", "edit", str(incident_id), "--file", str(missing)) == (
        f"error: {missing}: No such file or directory"
    )
    (tmp_path / "latin1.md").write_bytes(b"caf\xe9\n")
    assert error(
        cli, "postmortem", "edit", str(incident_id), "--file", str(tmp_path / "latin1.md")
    ).startswith(f"error: {tmp_path / 'latin1.md'}: not UTF-8 text")
    assert ok(cli, "postmortem", "review", str(incident_id)).startswith(
        f"postmortem of incident {incident_id} is in_review"
    )
    ok(cli, "postmortem", "draft", str(incident_id))
    ok(cli, "postmortem", "review", str(incident_id))
    ok(cli, "postmortem", "publish", str(incident_id))
    assert error(cli, "postmortem", "edit", str(incident_id), "--file", str(written)).endswith(
        "that is final"
    )
    assert ok(cli, "postmortem", "show", str(incident_id)) == "# What we learnt\n"
    assert error(cli, "postmortem", "show", "999") == "error: no incident 999"


def test_action_add_list_and_done(cli: CliRunner, incident_id: int) -> None:
    added = json.loads(
        ok(
            cli,
            "action",
            "add",
            str(incident_id),
            "--title",
            "Add a canary",
            "--owner",
            "bob",
            "--due",
            "2000-01-03",
            "--json",
        )
    )
    assert (added["title"], added["owner"], added["due_on"], added["overdue"]) == (
        "Add a canary",
        "bob",
        "2000-01-03",
        True,
    )
    later = ok(
        cli,
        "action",
        "add",
        str(incident_id),
        "--title",
        "Runbook",
        "--owner",
        "carol",
        "--due",
        "2999-01-01",
    )
    assert later == f"action item {added['id'] + 1} on incident 1 for carol, due 2999-01-01\n"
    table = ok(cli, "action", "list").splitlines()
    assert table[0].split() == ["ID", "INCIDENT", "TITLE", "OWNER", "DUE", "STATUS"]
    assert [line.split()[-1] for line in table[1:]] == ["overdue", "open"]
    overdue = json.loads(ok(cli, "action", "list", "--overdue", "--json"))
    assert [item["id"] for item in overdue] == [added["id"]]
    assert ok(cli, "action", "done", str(added["id"])) == f"action item {added['id']} is done\n"
    assert ok(cli, "action", "done", str(added["id"])) == f"action item {added['id']} is done\n"  # idempotent
    assert ok(cli, "action", "list", "--overdue") == "no overdue action items\n"
    assert len(json.loads(ok(cli, "action", "list", "--all", "--json"))) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["999", "--title", "x", "--owner", "bob", "--due", "2026-03-09"], "error: no incident 999"),
        (
            ["{id}", "--title", "x", "--owner", "zed", "--due", "2026-03-09"],
            "error: owner 'zed': no such user",
        ),
        (
            ["{id}", "--title", "x", "--owner", "bob", "--due", "9 March"],
            "error: due date '9 March' is not a date: use YYYY-MM-DD, e.g. 2026-03-09",
        ),
        (
            ["{id}", "--title", " ", "--owner", "bob", "--due", "2026-03-09"],
            "error: an action item needs a title",
        ),
    ],
)
def test_action_add_refuses_bad_input_and_changes_nothing(
    cli: CliRunner, incident_id: int, args: list[str], message: str
) -> None:
    assert error(cli, "action", "add", *[a.format(id=incident_id) for a in args]) == message
    assert json.loads(ok(cli, "action", "list", "--all", "--json")) == []
    assert error(cli, "action", "done", "42") == "error: no action item 42"
