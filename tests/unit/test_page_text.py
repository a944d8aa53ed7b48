"""The words of a page: GSM-7 accounting and the one-segment SMS, checked against a plain oracle."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pager.core.page_text import SMS_LIMIT, gsm7_length, sms_text, to_gsm7

# The GSM 03.38 default alphabet and its extension table, written out independently of the module.
BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENDED = "^{}\\[~]|€"


def oracle_length(text: str) -> int | None:
    """Septets, counted one character at a time; None when a character has no GSM-7 form."""
    total = 0
    for char in text:
        if char in BASIC:
            total += 1
        elif char in EXTENDED:
            total += 2
        else:
            return None
    return total


# Simple functions: fewer examples than the suite profile's 10,000 cover them.
FEW = settings(max_examples=2_000)
texts = st.text(alphabet=st.sampled_from(BASIC + EXTENDED + "`😀\t\u00a0é文"), max_size=300)


@FEW
@given(texts)
def test_gsm7_length_matches_the_oracle(text: str) -> None:
    expected = oracle_length(text)
    if expected is None:
        with pytest.raises(ValueError, match="is not a GSM-7 character"):
            gsm7_length(text)
    else:
        assert gsm7_length(text) == expected


@FEW
@given(texts)
def test_to_gsm7_keeps_gsm7_and_marks_the_rest(text: str) -> None:
    cleaned = to_gsm7(text)
    folded = " ".join(text.split())
    assert len(cleaned) == len(folded)
    for before, after in zip(folded, cleaned, strict=True):
        assert after == (before if oracle_length(before) is not None else "?")


@FEW
@given(st.integers(min_value=1, max_value=10**9), texts)
def test_an_sms_is_one_segment_and_names_the_alert(alert_id: int, summary: str) -> None:
    text = sms_text(alert_id, "checkout-api", summary)
    length = oracle_length(text)
    assert length is not None and length <= SMS_LIMIT
    assert text.startswith(f"ALERT {alert_id} checkout-api: ")
    assert text.endswith(f". Reply {alert_id}a ack, {alert_id}r resolve, {alert_id}e escalate")


def test_a_long_summary_is_cut_with_an_ellipsis() -> None:
    text = sms_text(7, "db", "x" * 500)
    assert gsm7_length(text) == SMS_LIMIT and "x..." in text


@FEW
@given(st.integers(min_value=1, max_value=10**9), texts, texts)
def test_any_service_and_summary_still_make_one_segment(alert_id: int, service: str, summary: str) -> None:
    text = sms_text(alert_id, service, summary)
    length = oracle_length(text)
    assert length is not None and length <= SMS_LIMIT
    assert text.startswith(f"ALERT {alert_id} ") or text.startswith(f"ALERT {alert_id}...")


# The module's first implementation, kept as the reference its shortcuts must match to the byte.
_NOT_GSM7_REFERENCE = re.compile("[^" + re.escape(BASIC + EXTENDED) + "]")


def reference_to_gsm7(text: str) -> str:
    return _NOT_GSM7_REFERENCE.sub("?", " ".join(text.split()))


def reference_sms_text(alert_id: int, service_id: str, summary: str) -> str:
    def fit(prefix: str, middle: str, suffix: str) -> str:
        room = SMS_LIMIT - gsm7_length(prefix) - gsm7_length(suffix)
        if gsm7_length(middle) <= room:
            return prefix + middle + suffix
        kept, budget = "", room - 3
        for char in middle:
            if gsm7_length(char) > budget:
                break
            kept += char
            budget -= gsm7_length(char)
        return prefix + kept.rstrip() + "..." + suffix

    reply = f". Reply {alert_id}a ack, {alert_id}r resolve, {alert_id}e escalate"
    text = fit(
        f"ALERT {alert_id} {reference_to_gsm7(service_id)}: ", reference_to_gsm7(summary).rstrip("."), reply
    )
    return text if gsm7_length(text) <= SMS_LIMIT else fit("", text, "")


# Mostly printable ASCII (the shortcut's case), with what sends a text the long way now and then.
ascii_texts = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126) | st.sampled_from("`\t\n\x07€é😀"),
    max_size=200,
)


def test_printable_ascii_but_the_backtick_is_gsm7() -> None:
    printable = {chr(code) for code in range(32, 127)}
    assert printable - set(BASIC + EXTENDED) == {"`"}


@FEW
@given(ascii_texts | texts)
def test_to_gsm7_matches_the_reference(text: str) -> None:
    assert to_gsm7(text) == reference_to_gsm7(text)


@FEW
@given(st.integers(min_value=1, max_value=10**9), ascii_texts | texts, ascii_texts | texts)
def test_sms_text_matches_the_reference_to_the_byte(alert_id: int, service: str, summary: str) -> None:
    assert sms_text(alert_id, service, summary) == reference_sms_text(alert_id, service, summary)
