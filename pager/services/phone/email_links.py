"""Signed, expiring one-click links for email pages: GET confirms, only POST acts.

See docs/phone-and-email.md, "Email links".
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.url_safe import URLSafeSerializerMixin

LinkAction = Literal["ack", "resolve"]
LINK_LIFETIME_SECONDS = 24 * 3600
_SALT = "pager.ack-link.v1"


@dataclass(frozen=True)
class LinkClaim:
    """What a valid token says: who may do what to which alert; `nonce` makes each link single-use."""

    alert_id: int
    action: LinkAction
    user: str
    nonce: str


class LinkInvalid(Exception):
    """A token that is tampered with, expired, or not one of ours."""


class LinkExpired(LinkInvalid):
    """A genuine token that is past its lifetime."""


class _LinkSerializer(URLSafeTimedSerializer):
    """itsdangerous' URL-safe timed serializer without its try at zlib: a link's payload (~60 bytes
    of JSON) is too short to come out shorter, and the try took 12 of the ~30 µs a token cost (two per
    email page, made while the alert's transaction is open). Its tokens are the library's own
    uncompressed form; reading still inflates a compressed one."""

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(super(URLSafeSerializerMixin, self).dump_payload(obj))


@lru_cache(maxsize=4)
def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    # Built once per key: its constructor serializes a probe object to learn its output type.
    return _LinkSerializer(secret_key, salt=_SALT)


def make_link_token(secret_key: str, alert_id: int, action: LinkAction, user: str) -> str:
    """A URL-safe token signed with the server's secret key (timestamped inside)."""
    serializer = _serializer(secret_key)
    payload = {"a": alert_id, "act": action, "u": user, "n": secrets.token_urlsafe(12)}
    return str(serializer.dumps(payload))


def read_link_token(secret_key: str, token: str, max_age: int = LINK_LIFETIME_SECONDS) -> LinkClaim:
    """The claim inside `token`; LinkInvalid saying why when it cannot be trusted."""
    serializer = _serializer(secret_key)
    try:
        payload = serializer.loads(token, max_age=max_age)
    except SignatureExpired:
        raise LinkExpired("this link has expired") from None
    except BadSignature:
        raise LinkInvalid("this link is not valid") from None
    action = payload.get("act") if isinstance(payload, dict) else None
    if action not in ("ack", "resolve"):
        raise LinkInvalid("this link is not valid")
    return LinkClaim(int(payload["a"]), action, str(payload["u"]), str(payload["n"]))


def link_url(public_url: str, token: str) -> str:
    """The link a person clicks."""
    return f"{public_url.rstrip('/')}/ack/{token}"
