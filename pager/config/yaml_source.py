"""YAML read with a line number on every mapping key, sequence item and scalar.

Built on `yaml.compose`, not `yaml.safe_load`: the loaded values keep where they came from, so every
configuration problem can be reported as `path:line: message`. Scalars keep their source text (YAML 1.1
would otherwise turn an unquoted `22:00` into the number 1320 and `no` into False); callers interpret it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pager.config.errors import ConfigError

_NULL_TAG = "tag:yaml.org,2002:null"
# What a schedule, policy or service id may look like (a file stem, a URL segment).
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class YamlScalar:
    """A scalar's source text; `is_null` for `~`, `null` or nothing at all."""

    text: str
    line: int
    is_null: bool = False


@dataclass(frozen=True)
class YamlSequence:
    """A sequence; each item knows its own line."""

    items: tuple[YamlValue, ...]
    line: int


@dataclass(frozen=True)
class YamlEntry:
    """One `key: value` pair of a mapping; `line` is the key's line."""

    key: str
    line: int
    value: YamlValue


@dataclass(frozen=True)
class YamlMapping:
    """A mapping in source order; duplicate keys are reported by the reader, not kept."""

    entries: tuple[YamlEntry, ...]
    line: int
    _index: dict[str, YamlEntry] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for entry in self.entries:
            self._index.setdefault(entry.key, entry)

    def get(self, key: str) -> YamlEntry | None:
        """The entry for `key`, or None."""
        return self._index.get(key)

    def __iter__(self) -> Iterator[YamlEntry]:
        return iter(self.entries)


YamlValue = YamlScalar | YamlSequence | YamlMapping


def kind_of(value: YamlValue) -> str:
    """A word for the value's shape, for messages."""
    if isinstance(value, YamlMapping):
        return "a mapping"
    if isinstance(value, YamlSequence):
        return "a list"
    return "nothing" if value.is_null else f"{value.text!r}"


def read_text(path: Path, *, display: Path | None = None) -> tuple[str | None, list[ConfigError]]:
    """The UTF-8 text of `path` (a BOM is allowed), or an error naming the line of a bad byte."""
    shown = display or path
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [ConfigError(shown, 1, f"cannot read file: {exc.strerror or exc}")]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        byte = raw[exc.start : exc.start + 1].hex()
        return None, [ConfigError(shown, line, f"not valid UTF-8 (byte 0x{byte}); save the file as UTF-8")]


def parse_yaml(text: str, path: Path) -> tuple[YamlValue | None, list[ConfigError]]:
    """Compose `text` into located values; YAML syntax errors and duplicate keys become ConfigErrors."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "cannot parse"
        return None, [ConfigError(path, line, f"invalid YAML: {problem}")]
    except yaml.YAMLError as exc:
        return None, [ConfigError(path, 1, f"invalid YAML: {exc}")]
    if node is None:
        return None, []
    errors: list[ConfigError] = []
    return _convert(node, path, errors), errors


def _convert(node: yaml.Node, path: Path, errors: list[ConfigError]) -> YamlValue:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        entries: list[YamlEntry] = []
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                errors.append(ConfigError(path, key_line, "a mapping key must be a plain word"))
                continue
            key = str(key_node.value)
            if key in seen:
                errors.append(
                    ConfigError(path, key_line, f"duplicate key {key!r} (first on line {seen[key]})")
                )
                continue
            seen[key] = key_line
            entries.append(YamlEntry(key, key_line, _convert(value_node, path, errors)))
        return YamlMapping(tuple(entries), line)
    if isinstance(node, yaml.SequenceNode):
        return YamlSequence(tuple(_convert(item, path, errors) for item in node.value), line)
    tag = str(node.tag)
    return YamlScalar(str(node.value), line, is_null=tag == _NULL_TAG)


class LocatedReader:
    """Base for readers of one config file: collects every problem as a ConfigError instead of stopping."""

    def __init__(self, path: Path, errors: list[ConfigError]) -> None:
        self.path = path
        self.errors = list(errors)

    def error(self, line: int, message: str, path: Path | None = None) -> None:
        """Record a problem at `line` of this file (or of `path`, for a file it refers to)."""
        self.errors.append(ConfigError(path or self.path, line, message))

    def scalar_text(self, value: YamlValue, what: str) -> str | None:
        """The stripped text of a scalar, or an error when it is missing or not a scalar."""
        if not isinstance(value, YamlScalar):
            self.error(value.line, f"{what} must be a single value, not {kind_of(value)}")
            return None
        if value.is_null or not value.text.strip():
            self.error(value.line, f"{what} is empty")
            return None
        return value.text.strip()

    def file_id(self, kind: str) -> str:
        """The file's stem as the id of a `kind`; an error when it is not letters, digits, - and _."""
        if not ID_RE.match(self.path.stem):
            self.error(
                1, f"file name {self.path.name!r} is not a usable {kind} id: use letters, digits, - and _"
            )
        return self.path.stem

    def required_list(self, mapping: YamlMapping, key: str, missing: str, shape: str) -> YamlSequence | None:
        """The non-empty list under `key`; `missing` / `shape` are the errors when it is absent / not one."""
        entry = mapping.get(key)
        if entry is None:
            self.error(mapping.line, missing)
            return None
        if not isinstance(entry.value, YamlSequence) or not entry.value.items:
            self.error(entry.line, shape)
            return None
        return entry.value

    def optional_text(self, mapping: YamlMapping, key: str) -> str | None:
        """The text of `key` when present (None when absent, or when it is not usable text)."""
        entry = mapping.get(key)
        return None if entry is None else self.scalar_text(entry.value, key)

    def unknown_keys(
        self, mapping: YamlMapping, allowed: Iterable[str], what: str, wrong_kind: Iterable[str] = ()
    ) -> None:
        """Report each key of `mapping` not in `allowed`, suggesting the closest valid key.

        `wrong_kind` keys are valid elsewhere (e.g. `members` in an iCal layer) and get a message saying so.
        """
        allowed = tuple(allowed)
        for entry in mapping:
            if entry.key in allowed:
                continue
            if entry.key in wrong_kind:
                self.error(
                    entry.line, f"{entry.key!r} does not belong in {what}: it takes {', '.join(allowed)}"
                )
                continue
            close = difflib.get_close_matches(entry.key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.error(
                entry.line, f"unknown key {entry.key!r} in {what}{hint}; valid keys: {', '.join(allowed)}"
            )
