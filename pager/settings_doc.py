"""The settings table of docs/operations.md, generated from `pager.settings.Settings` so it cannot drift.

`python -m pager.settings_doc` rewrites the table between the marker comments in docs/operations.md;
`python -m pager.settings_doc --check` only says whether it is current (exit 1 when not).
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import annotated_types
from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from pager.settings import Settings

START = "<!-- settings:start -->"
END = "<!-- settings:end -->"
OPERATIONS_DOC = Path(__file__).resolve().parents[1] / "docs" / "operations.md"
REGENERATE = "python -m pager.settings_doc"

_CONSTRAINTS = {
    annotated_types.Gt: ("gt", ">"),
    annotated_types.Ge: ("ge", ">="),
    annotated_types.Lt: ("lt", "<"),
    annotated_types.Le: ("le", "<="),
}


def env_names(name: str, field: FieldInfo, model: type[BaseSettings] = Settings) -> list[str]:
    """The environment variables that set field `name` of `model`, as pydantic-settings reads them."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    if isinstance(alias, str):
        return [alias]
    prefix = str(model.model_config.get("env_prefix", ""))
    return [f"{prefix}{name}".upper()]


def type_text(annotation: Any, metadata: list[Any] | None = None) -> str:
    """`str | None`, `float > 0`, `Path`: a field's type as a reader of the docs needs it."""
    if get_origin(annotation) in (Union, types.UnionType):
        text = " | ".join(type_text(arg) for arg in get_args(annotation))
    elif annotation is type(None):
        text = "None"
    elif get_origin(annotation) is not None:
        text = str(annotation).replace("typing.", "")
    else:
        text = getattr(annotation, "__name__", str(annotation))
    for constraint in metadata or []:
        for kind, (attribute, symbol) in _CONSTRAINTS.items():
            if isinstance(constraint, kind):
                text += f" {symbol} {getattr(constraint, attribute)}"
    return text


def default_text(field: FieldInfo) -> str:
    """The default as it would be written in the environment, or `required` / `unset`."""
    if field.is_required():
        return "required"
    default = field.get_default(call_default_factory=True)
    if default is None:
        return "unset"
    return f"`{default}`"


def settings_table(model: type[BaseSettings] = Settings) -> str:
    """The Markdown table: one row per setting, in the order `model` declares them."""
    rows = ["| Environment variable | Type | Default | Description |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        names = "<br>".join(f"`{env}`" for env in env_names(name, field, model))
        cells = [
            names,
            f"`{type_text(field.annotation, field.metadata)}`",
            default_text(field),
            " ".join((field.description or "").split()),
        ]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows)


def with_settings_table(document: str, model: type[BaseSettings] = Settings) -> str:
    """`document` with the text between the markers replaced by `model`'s table."""
    head, start, rest = document.partition(START)
    _old, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"the document has no {START} ... {END} markers")
    return f"{head}{START}\n{settings_table(model)}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    """Rewrite docs/operations.md's settings table (or, with --check, exit 1 when it is stale)."""
    args = sys.argv[1:] if argv is None else argv
    current = OPERATIONS_DOC.read_text(encoding="utf-8")
    wanted = with_settings_table(current)
    if "--check" in args:
        if current != wanted:
            print(f"{OPERATIONS_DOC}: the settings table is stale; run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    if current != wanted:
        OPERATIONS_DOC.write_text(wanted, encoding="utf-8")
        print(f"{OPERATIONS_DOC}: settings table rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
