"""Console login and logout: an API token, or a one-time link sent by email (docs/console.md)."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pager.api.console.web import CsrfDep, PageDep, local_path, secret_key
from pager.api.failure_limits import BAD_BEARER_TOKEN, record_failure, refuse_if_blocked
from pager.services.console.login import email_login_link, redeem_login_link, token_login
from pager.services.console.sessions import anonymous_session

router = APIRouter(include_in_schema=False)

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
    """Send a one-time login link to the person's verified email; the same answer whoever asked."""
    runtime = page.runtime
    email_login_link(runtime.engine, secret_key(runtime), runtime.settings.public_url, handle, page.now)
    return page.render("login.html", next_path="/", notice=EMAIL_SENT)


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
