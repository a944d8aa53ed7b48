"""Email link tokens keep itsdangerous' format: the library reads ours, and we read its own
(compressed ones too), so links already in people's mailboxes keep working across the change that
dropped the zlib try (pager.services.phone.email_links._LinkSerializer)."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeTimedSerializer

from pager.services.phone.email_links import LinkClaim, LinkInvalid, make_link_token, read_link_token

KEY = "k3y-for-tests-only-0123456789abcdefghijklmnop"
SALT = "pager.ack-link.v1"  # part of the format: a change would void every link sent before it


def stock() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(KEY, salt=SALT)


@pytest.mark.parametrize("user", ["alice", "a" * 200])
def test_the_librarys_serializer_reads_our_tokens(user: str) -> None:
    token = make_link_token(KEY, 42, "resolve", user)
    payload = stock().loads(token, max_age=60)
    assert (payload["a"], payload["act"], payload["u"]) == (42, "resolve", user)
    assert not token.startswith(".")  # never the compressed form


@pytest.mark.parametrize("user", ["alice", "a" * 200])
def test_we_read_tokens_the_librarys_serializer_made(user: str) -> None:
    token = stock().dumps({"a": 7, "act": "ack", "u": user, "n": "nonce"})
    assert token.startswith(".") == (len(user) > 100)  # a long, repetitive payload is compressed
    assert read_link_token(KEY, token) == LinkClaim(7, "ack", user, "nonce")


def test_a_token_signed_with_another_key_is_refused() -> None:
    token = make_link_token("another-key-0123456789abcdefghijklmnopqrstu", 42, "ack", "alice")
    with pytest.raises(LinkInvalid):
        read_link_token(KEY, token)
