"""Signed, expiring one-click links for email pages: GET confirms, only POST acts.

See docs/phone-and-email.md, "Email links".
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

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


def make_link_token(secret_key: str, alert_id: int, action: LinkAction, user: str) -> str:
    """A URL-safe token signed with the server's secret key (timestamped inside)."""
    serializer = URLSafeTimedSerializer(secret_key, salt=_SALT)
    payload = {"a": alert_id, "act": action, "u": user, "n": secrets.token_urlsafe(12)}
    return str(serializer.dumps(payload))


def read_link_token(secret_key: str, token: str, max_age: int = LINK_LIFETIME_SECONDS) -> LinkClaim:
    """The claim inside `token`; LinkInvalid saying why when it cannot be trusted."""
    serializer = URLSafeTimedSerializer(secret_key, salt=_SALT)
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
