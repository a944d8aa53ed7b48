"""Email verification links: GET shows a confirmation page, only POST verifies (mail scanners follow
GETs). See docs/phone-and-email.md, "Verifying a contact method"."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from pager.api.ack_links import page
from pager.api.deps import NowDep, RuntimeDep
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
def use(token: str, runtime: RuntimeDep, now: NowDep) -> HTMLResponse:
    """Verify the method the signed link names (its try is counted, even when it fails)."""
    try:
        keys = verification.secrets_of(runtime.settings)
    except InvalidInput as exc:
        return page("This link cannot be used", f"<p>{escape(str(exc))}</p>", 503)
    outcome = read_write(runtime.engine, lambda s: verification.verify_link(s, keys, token, now))
    if outcome in ("verified", "already_verified"):
        return page("Address confirmed", "<p>pager may page you at this address now.</p>")
    return page(
        "This link is not valid",
        '<p class="muted">It has expired, was replaced by a newer one, or is not one of ours.</p>',
        400,
    )
