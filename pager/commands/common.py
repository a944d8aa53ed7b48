"""What every command shares: the global options and how errors leave the process."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import typer


@dataclass
class CliState:
    """Global options, kept on the typer context."""

    config_dir: Path


def state(ctx: typer.Context) -> CliState:
    """The global options of this invocation."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        return CliState(config_dir=Path("."))
    return obj


def fail(message: str) -> NoReturn:
    """Print `error: message` to stderr and exit 1."""
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(1)


def print_json(document: Any) -> None:
    """One JSON document on stdout."""
    print(json.dumps(document, indent=2, sort_keys=False))
