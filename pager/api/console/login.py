"""Console login and logout: an API token, or a one-time link sent by email (docs/console.md)."""

from __future__ import annotations

import time
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from prometheus_client import Counter

from pager.api.app_state import app_object
from pager.api.client_shares import RefusalLog
from pager.api.console.web import CsrfDep, PageDep, local_path, secret_key
from pager.api.failure_limits import (
    BAD_BEARER_TOKEN,
    LOGIN_LINK_ASKS,
    FailureLimiter,
    TooManyFailures,
    client_of,
    record_failure,
    refuse_if_blocked,
)
from pager.services.console.login import LINK_LENGTH, email_login_link, redeem_login_link, token_login
from pager.services.console.sessions import anonymous_session

router = APIRouter(include_in_schema=False)

LINKS_PER_HANDLE = 3  # login links emailed for one handle per link lifetime (15 minutes), per process
LOGIN_LINKS_NOT_SENT = Counter(
    "pager_console_login_links_not_sent_total",
    "Console login links asked for and not sent: too_many_links (the handle had its 3 in 15 minutes)",
    ["reason"],
)
# Counted at once, logged as one line with the counts at most every 10 s (a flood is an attack).
_NOT_SENT = RefusalLog("console_login_links_not_sent", LOGIN_LINKS_NOT_SENT)

EMAIL_SENT = (
    "If that handle belongs to someone with a verified email address, a login link is on its way. "
    "It works once, for 15 minutes."
)


@router.get("/login")
def login_form(page: PageDep, next_path: Annotated[str | None, Query(alias="next")] = None) -> Response:
    """The two ways in: an API token, or a link by email."""
    return page.render("login.html", next_path=local_path(next_path))


@router.post("/login/token")
def login_with_token(
    page: CsrfDep,
    token: Annotated[str, Form(max_length=200)],
    next_path: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    """Log in with an API token: the session has the token's role, and ends when it is revoked."""
    refuse_if_blocked(page.request, BAD_BEARER_TOKEN)
    session = token_login(page.runtime.engine, token, page.now)
    if session is None:
        record_failure(page.request, BAD_BEARER_TOKEN)
        return page.render(
            "login.html",
            status_code=401,
            next_path=local_path(next_path),
            error="That token is unknown or revoked.",
        )
    return page.redirect(local_path(next_path), session)


@router.post("/login/email")
def login_by_email(page: CsrfDep, handle: Annotated[str, Form(max_length=64)]) -> HTMLResponse:
    """Send a one-time login link to the person's verified email; the same answer whoever asked.

    Anyone may ask, for any handle, and each link is an email in the outbox, under the same
    per-address throttle as the person's pages: 100 asks for one handle held that person's email
    page back for 5 minutes. So one address may ask 20 times a minute (pager.api.failure_limits; then
    429), and one handle gets LINKS_PER_HANDLE links per link lifetime, whoever asks (more are
    answered alike, and not sent).
    """
    request, runtime = page.request, page.runtime
    try:
        refuse_if_blocked(request, LOGIN_LINK_ASKS)
    except TooManyFailures as blocked:  # told on the login page, not in the API's error shape
        error = f"Too many login links asked for from your address; try again in {blocked.retry_after} s."
        response = page.render("login.html", status_code=429, next_path="/", error=error)
        response.headers["Retry-After"] = str(blocked.retry_after)
        return response
    record_failure(request, LOGIN_LINK_ASKS)  # not a failure: every ask counts
    if _links_per_handle(request).admit(handle.strip(), time.monotonic()):
        email_login_link(runtime.engine, secret_key(runtime), runtime.settings.public_url, handle, page.now)
    else:
        state = f"per_handle={LINKS_PER_HANDLE}"
        _NOT_SENT.refused("too_many_links", client_of(request), time.monotonic(), state)
    return page.render("login.html", next_path="/", notice=EMAIL_SENT)


def _links_per_handle(request: Request) -> FailureLimiter:
    window = LINK_LENGTH.total_seconds()
    return app_object(request, "login_links_per_handle", lambda: FailureLimiter(LINKS_PER_HANDLE, window))


@router.get("/login/link")
async def login_with_link(page: PageDep, token: Annotated[str, Query(max_length=2000)]) -> Response:
    """Use a login link: logged in (and the link used up), or told it no longer works."""
    runtime = page.runtime
    session = await anyio.to_thread.run_sync(
        redeem_login_link, runtime.engine, secret_key(runtime), token, page.now
    )
    if session is None:
        return page.render(
            "login.html",
            status_code=400,
            next_path="/",
            error="That login link has expired, was used already, or is not valid. Ask for a new one.",
        )
    return page.redirect("/", session)


@router.post("/logout")
def logout(page: CsrfDep) -> RedirectResponse:
    """End the session: the cookie is replaced by an anonymous one."""
    return page.redirect("/login", anonymous_session(page.now))
