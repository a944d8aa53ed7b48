"""What each long-running process imports (docs/operations.md, "Memory").

Every module a process imports stays in its memory for its whole life, and each of `pager worker`
and `pager serve --no-worker` runs in several copies. Each check starts a fresh interpreter that
does what the command does up to the point where it would start serving (the CLI imported, the
runtime built with Twilio and SMTP configured, the app or the worker built) and lists which of the
packages that process has no use for were imported anyway.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The packages a role must not load (some load later, on first use: the Twilio SDK on the first page
# sent, httpx on the first webhook).
WEB = ["fastapi", "uvicorn", "starlette", "jinja2", "pager.api"]
WORKER_ONLY = [
    "pager.worker",
    "apscheduler",
    "twilio.rest",
    "requests",
    "httpx",
    "standardwebhooks",
    "aiosmtpd",
    "twilio.http",
]
# Loaded by the worker on first use only: a worker with no webhook subscription, or that has not
# sent a page yet, has no use for them.
ON_FIRST_USE = ["httpx", "standardwebhooks", "twilio.rest", "requests"]

BUILD_RUNTIME = """
import os, sys, tempfile
from pathlib import Path
from pager.services.runtime import build_runtime
from pager.settings import Settings

tmp = Path(tempfile.mkdtemp())
settings = Settings(
    database_url=f"sqlite:///{tmp / 'pager.db'}",
    config_dir=Path(CONFIG_DIR),
    twilio_account_sid="AC" + "c" * 32,
    twilio_auth_token="token",
    twilio_from_number="+15005550006",
    public_url="https://pager.example.com",
    smtp_url="smtp://mail.example.com:25",
    secret_key="k" * 43,
)
runtime = build_runtime(settings)
"""

ROLES = {
    # `pager worker`: the CLI, the command's module, the worker built (not started).
    "worker": (
        "import pager.cli, pager.commands.worker\n"
        + BUILD_RUNTIME
        + "from pager.worker import Worker\nWorker(runtime)\n",
        [*WEB, *ON_FIRST_USE],
    ),
    # `pager serve --no-worker`: the CLI, the command's module, the app built without its worker.
    "serve --no-worker": (
        "import pager.cli, pager.commands.server\n"
        + BUILD_RUNTIME
        + "from pager.api.app import create_app\ncreate_app(runtime, run_worker=False)\n",
        WORKER_ONLY,
    ),
    # `pager --help` and every short command: the CLI alone.
    "cli": ("import pager.cli\n", [*WEB, *WORKER_ONLY]),
}


def imported(code: str, packages: list[str]) -> list[str]:
    """The packages of `packages` in sys.modules after a fresh interpreter runs `code`."""
    script = code.replace("CONFIG_DIR", repr(str(ROOT)))
    script += textwrap.dedent(f"""
        import json, sys
        print(json.dumps([name for name in {packages!r} if name in sys.modules]))
    """)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    found: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.parametrize("role", sorted(ROLES))
def test_a_process_does_not_import_what_it_does_not_use(role: str) -> None:
    code, forbidden = ROLES[role]
    assert imported(code, forbidden) == []


def test_the_check_sees_an_import() -> None:
    # The probe itself works: a package the code imports is reported.
    assert imported("import pager.cli\nimport uvicorn\n", ["uvicorn", "fastapi"]) == ["uvicorn"]
