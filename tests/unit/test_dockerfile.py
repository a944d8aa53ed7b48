"""The Dockerfile's non-negotiables, read as text (no Docker engine needed).

Hash-checked locked packages, a non-root user, a health check on /readyz, migrations before the
server starts, no secret baked in, and a build context that holds only what the image needs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; continuation lines joined, comments dropped."""
    lines = [
        line
        for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if not line.startswith("#")
    ]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            found.append((keyword.upper(), arguments.strip()))
    return found


def arguments_of(keyword: str) -> list[str]:
    return [arguments for found, arguments in instructions() if found == keyword]


def command_text(arguments: str) -> str:
    """A CMD/HEALTHCHECK command as one string, from exec form (JSON) or shell form."""
    if arguments.startswith("["):
        return " ".join(json.loads(arguments))
    return arguments


def test_packages_come_from_the_lock_with_hashes_and_pager_without_dependencies() -> None:
    runs = arguments_of("RUN")
    assert any(
        re.search(r"pip install .*--require-hashes .*-r requirements/runtime\.lock", run) for run in runs
    )
    assert "requirements/runtime.lock" in " ".join(arguments_of("COPY"))
    installs_of_pager = [run for run in runs if re.search(r"pip install [^&]*\s\.(\s|$)", run)]
    assert installs_of_pager, "pager itself is installed"
    assert all("--no-deps" in run for run in installs_of_pager)


def test_it_runs_as_a_user_other_than_root() -> None:
    users = arguments_of("USER")
    assert users, "no USER: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_healthcheck_asks_readyz() -> None:
    healthchecks = arguments_of("HEALTHCHECK")
    assert len(healthchecks) == 1, "one HEALTHCHECK"
    command = command_text(healthchecks[0].partition("CMD ")[2])
    assert "/readyz" in command
    assert "curl" not in command and "wget" not in command  # neither is in the slim image


def test_default_command_migrates_then_serves_and_only_if_the_migration_worked() -> None:
    cmd = command_text(arguments_of("CMD")[-1])
    upgrade, serve = cmd.find("pager db upgrade"), cmd.find("pager serve")
    assert 0 <= upgrade < serve
    assert "&&" in cmd[upgrade:serve], "the server must not start when the migration fails"
    assert "--host 0.0.0.0" in cmd[serve:]


def test_no_secret_key_is_baked_into_the_image() -> None:
    settings = " ".join(arguments_of("ENV") + arguments_of("ARG"))
    assert "PAGER_SECRET_KEY" not in settings
    assert "TWILIO_AUTH_TOKEN" not in settings


def test_build_context_holds_only_what_the_copies_need() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "exclude everything, then name what the image needs"
    included = {p[1:] for p in patterns if p.startswith("!")}
    for copy in arguments_of("COPY"):
        *sources, _destination = [word for word in copy.split() if not word.startswith("--")]
        for source in sources:
            assert source in included, f"COPY {source} is excluded by .dockerignore"
    for secret in ("**/.env", "**/*.db", "**/*.key", "**/*.pem"):
        assert secret in patterns
