"""One-click email links: GET shows a confirmation page, only POST changes anything.

See docs/phone-and-email.md, "Email links".

Mail scanners and link previews follow GETs, so a GET never acts. Links are signed, expire after a
day and work once, and only for someone the alert paged; a refused link gets a page saying why, with
a 4xx status.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from pager.api.deps import NowDep, RuntimeDep
from pager.api.failure_limits import BAD_EMAIL_LINK, record_failure, refuse_if_blocked
from pager.api.rest.schemas import ErrorDocument
from pager.services.phone import link_actions

router = APIRouter(prefix="/ack", tags=["email links"])

VERB = {"ack": "Acknowledge", "resolve": "Resolve"}
REFUSAL_STATUS: dict[link_actions.LinkProblem, int] = {
    "invalid": 400,
    "not_paged": 403,
    "gone": 404,
    "used": 409,
    "expired": 410,
}
REFUSAL_TITLE: dict[link_actions.LinkProblem, str] = {
    "invalid": "This link is not valid",
    "not_paged": "This link cannot act on this alert",
    "gone": "Alert not found",
    "used": "This link was already used",
    "expired": "This link has expired",
}
# The token is in the URL: keep it out of caches, referrers and search engines.
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;line-height:1.5}"
    "button{font-size:1.1rem;padding:.6rem 1.4rem;cursor:pointer}.muted{color:#555}"
)


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    """A small self-contained HTML page; `body` is already escaped HTML."""
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} - pager</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _refused(request: Request, refusal: link_actions.LinkRefused) -> HTMLResponse:
    # A link lives in an email (forwarded, pasted into tickets) for a day, and a signed one is
    # checked against the database on every use; a used one posted again and again took SQLite's
    # writer lock each time. Refusals count against the address like bad tokens.
    record_failure(request, BAD_EMAIL_LINK)
    body = (
        f"<p>{escape(str(refusal))}</p><p class='muted'>Nothing was changed. You can still act on the "
        "alert by replying to its SMS or with the pager command line.</p>"
    )
    return page(REFUSAL_TITLE[refusal.problem], body, REFUSAL_STATUS[refusal.problem])


def _html_doc(description: str, example: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"example": example}}}


REFUSALS: dict[int | str, dict[str, Any]] = {
    400: _html_doc("Tampered or unknown token; nothing changed", "<h1>This link is not valid</h1>"),
    403: _html_doc(
        "The person the link names was never paged for this alert; nothing changed",
        "<h1>This link cannot act on this alert</h1>",
    ),
    404: _html_doc("The alert no longer exists", "<h1>Alert not found</h1>"),
    409: _html_doc("The link was used before; nothing changed", "<h1>This link was already used</h1>"),
    410: _html_doc("The link has expired; nothing changed", "<h1>This link has expired</h1>"),
    429: {
        "description": "Too many refused links from this address in a minute; retry after `Retry-After` s",
        "model": ErrorDocument,
    },
}


@router.get(
    "/{token}",
    summary="Confirmation page for an email link (changes nothing)",
    response_class=HTMLResponse,
    responses={
        200: _html_doc("What the link would do, with a button", "<h1>Acknowledge alert 42?</h1>"),
        **REFUSALS,
    },
)
def confirm_link(token: str, request: Request, runtime: RuntimeDep) -> HTMLResponse:
    refuse_if_blocked(request, BAD_EMAIL_LINK)
    try:
        view = link_actions.inspect_link(runtime, token)
    except link_actions.LinkRefused as refusal:
        return _refused(request, refusal)
    verb = VERB[view.action]
    state = view.status
    if view.status == "acknowledged" and view.acknowledged_by:
        state += f" by {view.acknowledged_by}"
    if view.status == "resolved" and view.resolved_by:
        state += f" by {view.resolved_by}"
    body = (
        f"<p><strong>{escape(view.service_id)}</strong>: {escape(view.summary)}</p>"
        f"<p class='muted'>Alert {view.alert_id} is {escape(state)}. This link was sent to "
        f"{escape(view.user)}.</p>"
        f"<form method='post'><button type='submit'>{verb} alert {view.alert_id}</button></form>"
    )
    return page(f"{verb} alert {view.alert_id}?", body)


@router.post(
    "/{token}",
    summary="Act on an email link: acknowledge or resolve",
    response_class=HTMLResponse,
    responses={
        200: _html_doc("What happened", "<h1>Alert 42 acknowledged.</h1>"),
        **REFUSALS,
    },
)
def use_link(token: str, request: Request, runtime: RuntimeDep, now: NowDep) -> HTMLResponse:
    refuse_if_blocked(request, BAD_EMAIL_LINK)
    try:
        result = link_actions.use_link(runtime, token, now)
    except link_actions.LinkRefused as refusal:
        return _refused(request, refusal)
    return page(result.message, f"<p class='muted'>Alert {result.alert_id}. You can close this page.</p>")
