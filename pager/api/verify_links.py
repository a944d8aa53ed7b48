"""Email verification links: GET shows a confirmation page, only POST verifies (mail scanners follow
GETs). See docs/phone-and-email.md, "Verifying a contact method"."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from pager.api.ack_links import page
from pager.api.deps import NowDep, RuntimeDep
from pager.api.failure_limits import BAD_EMAIL_LINK, record_failure, refuse_if_blocked
from pager.services.errors import InvalidInput
from pager.services.people import verification
from pager.services.transactions import read_write

router = APIRouter(prefix="/verify", tags=["email links"])


@router.get("/{token}", response_class=HTMLResponse, include_in_schema=False)
def confirm(token: str) -> HTMLResponse:
    """A page with one button; nothing changes until it is pressed."""
    form = (
        f'<form method="post" action="/verify/{escape(token, quote=True)}">'
        "<p>Let pager page you at this email address?</p>"
        '<button type="submit">Confirm this address</button></form>'
    )
    return page("Confirm your email address", form)


@router.post("/{token}", response_class=HTMLResponse, include_in_schema=False)
def use(token: str, request: Request, runtime: RuntimeDep, now: NowDep) -> HTMLResponse:
    """Verify the method the signed link names (its try is counted, even when it fails).

    The signature is checked before any transaction: anyone may post any token, and a write
    transaction per post was SQLite's writer lock, which every trigger needs. Refusals count against
    the address like refused alert links (pager.api.failure_limits).
    """
    refuse_if_blocked(request, BAD_EMAIL_LINK)
    try:
        keys = verification.secrets_of(runtime.settings)
    except InvalidInput as exc:
        return page("This link cannot be used", f"<p>{escape(str(exc))}</p>", 503)
    claim = verification.read_link(keys, token)
    outcome = "dead"
    if claim is not None:
        outcome = read_write(runtime.engine, lambda s: verification.verify_link(s, keys, claim, now))
    if outcome in ("verified", "already_verified"):
        return page("Address confirmed", "<p>pager may page you at this address now.</p>")
    record_failure(request, BAD_EMAIL_LINK)
    return page(
        "This link is not valid",
        '<p class="muted">It has expired, was replaced by a newer one, or is not one of ours.</p>',
        400,
    )
