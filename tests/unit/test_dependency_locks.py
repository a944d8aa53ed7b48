"""requirements/*.lock keep up with pyproject.toml: every dependency it names is pinned, within its range.

CI and the Docker image install from the locks; a dependency added to pyproject.toml but not locked
would be missing there (pip's --require-hashes refuses it). Refresh them with `make lock`.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
REFRESH = "run `make lock` (docs/operations.md, 'Upgrading dependencies')"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def pins(lock: str) -> dict[str, str]:
    """Package name (normalised) -> pinned version, from a pip-compile output file."""
    text = (ROOT / "requirements" / lock).read_text(encoding="utf-8")
    return {canonicalize_name(name): version for name, version in _PIN.findall(text)}


def requirements(*groups: str) -> list[Requirement]:
    """pyproject.toml's requirements: `runtime`, `build` or an optional-dependencies extra; pager's own
    extras (`pager[test]`) are followed, not listed."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found: list[Requirement] = []
    for group in groups:
        if group == "runtime":
            texts = project["project"]["dependencies"]
        elif group == "build":
            texts = project["build-system"]["requires"]
        else:
            texts = project["project"]["optional-dependencies"][group]
        for text in texts:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == "pager":
                found.extend(requirements(*sorted(requirement.extras)))
            else:
                found.append(requirement)
    return found


def unlocked(lock: str, wanted: list[Requirement]) -> list[str]:
    """Each requirement the lock misses, or pins outside the requirement's range."""
    pinned = pins(lock)
    problems = []
    for requirement in wanted:
        version = pinned.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{requirement} is not in requirements/{lock}")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement} but requirements/{lock} pins {version}")
    return problems


def test_runtime_lock_pins_every_runtime_and_build_dependency() -> None:
    problems = unlocked("runtime.lock", requirements("runtime", "build"))
    assert not problems, f"{problems}: {REFRESH}"


def test_dev_lock_pins_every_dependency_of_the_dev_extra() -> None:
    problems = unlocked("dev.lock", requirements("runtime", "build", "dev"))
    assert not problems, f"{problems}: {REFRESH}"


def test_the_two_locks_agree_on_every_package_they_share() -> None:
    # The image runs runtime.lock; CI tests dev.lock. They must be the same versions.
    runtime, dev = pins("runtime.lock"), pins("dev.lock")
    differing = {name: (version, dev[name]) for name, version in runtime.items() if dev.get(name) != version}
    assert not differing, f"runtime.lock vs dev.lock: {differing}: {REFRESH}"


def test_every_pin_carries_a_hash() -> None:
    for lock in ("runtime.lock", "dev.lock"):
        text = (ROOT / "requirements" / lock).read_text(encoding="utf-8")
        entries = re.split(r"\n(?=[A-Za-z0-9])", text)
        unhashed = [e.split()[0] for e in entries if _PIN.match(e) and "--hash=sha256:" not in e]
        assert not unhashed, f"requirements/{lock}: no hash for {unhashed}: {REFRESH}"
