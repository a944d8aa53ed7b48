"""The SMS reply grammar: every form × verb × id × case × wrapping, and what is refused.

The grammar is in docs/phone-and-email.md, "Replying to an SMS".
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pager.core.sms_grammar import HELP_TEXT, MAX_INPUT, Action, Command, Help, parse_reply

VERBS: dict[Action, tuple[str, ...]] = {
    "ack": ("a", "ack", "acknowledge"),
    "resolve": ("r", "res", "resolve"),
    "escalate": ("e", "esc", "escalate"),
}
ALL_VERBS = [(action, verb) for action, verbs in VERBS.items() for verb in verbs]
FORMS = ("{id}{verb}", "{id} {verb}", "{verb} {id}", "{verb}{id}")
IDS = (("1", 1), ("7", 7), ("42", 42), ("007", 7), ("123456789012", 123456789012))


def _alternating(text: str) -> str:
    return "".join(c.upper() if i % 2 else c for i, c in enumerate(text))


CASES: tuple[Callable[[str], str], ...] = (str.lower, str.upper, str.title, _alternating)
WRAPS = (
    "{}",
    "  {}  ",
    "\t{}\n",
    "{}.",
    "{}!",
    "({})",
    '"{}"',
    "...{}?!",
    "#{}",
    "«{}»",
    "{}\u3002",  # ideographic full stop
    "\u00a0{}\u00a0",  # no-break space
)
SPACES = (" ", "  ", "\t", "\n", "\u00a0", " \t ")


@pytest.mark.parametrize(("action", "verb"), ALL_VERBS)
@pytest.mark.parametrize("form", FORMS)
def test_every_form_of_every_verb_names_the_alert(action: Action, verb: str, form: str) -> None:
    for raw_id, alert_id in IDS:
        for case in CASES:
            for wrap in WRAPS:
                text = wrap.format(case(form.format(id=raw_id, verb=verb)))
                assert parse_reply(text) == Command(action, alert_id), repr(text)


@pytest.mark.parametrize(("action", "verb"), ALL_VERBS)
@pytest.mark.parametrize("space", SPACES)
def test_any_whitespace_run_separates_id_and_verb(action: Action, verb: str, space: str) -> None:
    assert parse_reply(f"42{space}{verb}") == Command(action, 42)
    assert parse_reply(f"{verb}{space}42") == Command(action, 42)


@pytest.mark.parametrize(("action", "verb"), ALL_VERBS)
def test_a_verb_alone_means_the_one_open_alert(action: Action, verb: str) -> None:
    for case in CASES:
        for wrap in WRAPS:
            text = wrap.format(case(verb))
            assert parse_reply(text) == Command(action, None), repr(text)


@pytest.mark.parametrize(("key", "action"), [("4", "ack"), ("6", "resolve"), ("5", "escalate")])
def test_keypad_digit_alone_means_the_one_open_alert(key: str, action: Action) -> None:
    for wrap in WRAPS:
        assert parse_reply(wrap.format(key)) == Command(action, None)


def test_keypad_digit_with_a_verb_is_an_alert_id() -> None:
    assert parse_reply("4a") == Command("ack", 4)
    assert parse_reply("r 6") == Command("resolve", 6)
    assert parse_reply("5 esc") == Command("escalate", 5)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "...",
        "?!",
        "42x",
        "a42b",
        "ack ack",
        "a a",
        "42 a b",
        "42a 43a",
        "42 43 a",
        "a 42 43",
        "ack 42 please",
        "please ack 42",
        "42a thanks",
        "acked",
        "acknowledged",
        "resolved",
        "escalated",
        "ak",
        "ok",
        "yes",
        "help",
        "stop",
        "x",
        "b 42",
        "42",
        "0",
        "1",
        "2",
        "3",
        "7",
        "8",
        "9",
        "44",
        "45",
        "4 5",
        "4 2a",
        "4a2",
        "a 4 2",
        "0a",
        "00a",
        "a 0",
        "1234567890123a",  # 13 digits
        "42-a",
        "42_a",
        "a-42",
        "a:42",
        "42/a",
        "4.2a",
        "４２a",  # full-width digits
        "ａｃｋ",  # full-width letters
        "42а",  # Cyrillic а
        "👍",
        "42a 👍",
        "👍 42a",
        "ack👍",
        "\x00",
        "42\x00a",
    ],
)
def test_anything_else_is_help(text: str) -> None:
    assert parse_reply(text) == Help()


def test_punctuation_only_counts_around_the_reply() -> None:
    assert parse_reply("-42a-") == Command("ack", 42)
    assert parse_reply("*** r 42 ***") == Command("resolve", 42)
    assert parse_reply("42,a") == Help()


def test_very_long_input_is_help_without_reading_it() -> None:
    assert parse_reply("a" * 10_000) == Help()
    assert parse_reply("42a" + " " * MAX_INPUT) == Help()
    assert parse_reply("4" * 10_000 + "a") == Help()
    assert parse_reply(" " * (MAX_INPUT - 3) + "42a") == Command("ack", 42)


def test_help_text_names_the_grammar_and_fits_one_sms() -> None:
    assert "42a" in HELP_TEXT and "42r" in HELP_TEXT and "42e" in HELP_TEXT
    assert len(HELP_TEXT) <= 160 and HELP_TEXT.isascii()


# The tables above are exhaustive over the grammar; these two only sample beyond it, so a few
# thousand examples are enough.
SAMPLED = settings(max_examples=2000)


@SAMPLED
@given(st.text(max_size=300))
def test_any_text_parses_to_a_command_or_help(text: str) -> None:
    reply = parse_reply(text)
    assert isinstance(reply, Command | Help)
    if isinstance(reply, Command) and reply.alert_id is not None:
        assert reply.alert_id > 0
        assert str(reply.alert_id) in text


@SAMPLED
@given(
    st.integers(min_value=1, max_value=10**12 - 1),
    st.sampled_from(ALL_VERBS),
    st.sampled_from(FORMS),
    st.sampled_from(CASES),
)
def test_every_rendered_command_parses_back(
    alert_id: int, action_verb: tuple[Action, str], form: str, case: Callable[[str], str]
) -> None:
    action, verb = action_verb
    text = case(form.format(id=alert_id, verb=verb))
    assert parse_reply(text) == Command(action, alert_id)
