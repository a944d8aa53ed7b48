"""docs/operations.md's settings table is the one generated from pager.settings.Settings."""

from __future__ import annotations

import pytest
from pydantic import AliasChoices, Field

from pager.settings import Settings
from pager.settings_doc import (
    END,
    OPERATIONS_DOC,
    REGENERATE,
    START,
    env_names,
    settings_table,
    with_settings_table,
)


def test_the_operations_doc_shows_the_current_settings() -> None:
    document = OPERATIONS_DOC.read_text(encoding="utf-8")
    assert document == with_settings_table(document), (
        f"docs/operations.md's settings table differs from pager/settings.py: run `{REGENERATE}`"
    )


def test_every_setting_has_a_description() -> None:
    missing = [name for name, field in Settings.model_fields.items() if not (field.description or "").strip()]
    assert not missing, (
        f"add Field(description=...) to {missing} in pager/settings.py, then run `{REGENERATE}`"
    )


def test_every_variable_name_is_in_the_table() -> None:
    table = settings_table()
    for name, field in Settings.model_fields.items():
        for env in env_names(name, field):
            assert f"`{env}`" in table
    assert "`TWILIO_ACCOUNT_SID`<br>`PAGER_TWILIO_ACCOUNT_SID`" in table


class MoreSettings(Settings):
    """A setting added later, as another change would add one."""

    deadman_url: str | None = Field(default=None, description="Pinged | every minute.")
    limit_per_minute: int = Field(default=60, ge=1, description="At most this many.")
    vendor_key: str | None = Field(
        default=None, validation_alias=AliasChoices("VENDOR_KEY", "PAGER_VENDOR_KEY"), description="Key."
    )


def test_a_new_setting_gets_its_row_without_anyone_editing_the_generator() -> None:
    rows = settings_table(MoreSettings).splitlines()
    assert rows[-3:] == [
        "| `PAGER_DEADMAN_URL` | `str \\| None` | unset | Pinged \\| every minute. |",
        "| `PAGER_LIMIT_PER_MINUTE` | `int >= 1` | `60` | At most this many. |",
        "| `VENDOR_KEY`<br>`PAGER_VENDOR_KEY` | `str \\| None` | unset | Key. |",
    ]
    stale = f"# Ops\n\n{START}\n{settings_table()}\n{END}\n\nmore\n"
    fresh = with_settings_table(stale, MoreSettings)
    assert fresh != stale and fresh.endswith(f"{END}\n\nmore\n") and "PAGER_DEADMAN_URL" in fresh


def test_a_document_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="markers"):
        with_settings_table("# no table here\n")
