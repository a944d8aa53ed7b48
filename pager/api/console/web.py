"""What every console page shares: the templates, the session cookie, who is logged in, CSRF checks.

A page's dependency `PageDep` reads the signed session cookie (a fresh anonymous session when there
is none) and looks up who it stands for; `LoggedInDep` also sends a visitor who is not logged in to
/login. `csrf_checked` guards every POST: the form's `csrf` field (or an `X-CSRF-Token` header, for
htmx) must match the session's, else 403, before the route runs. Roles are the API's:
`require(page, "responder")` is 403 for a lower role, so a forged POST from a viewer does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from pager.api.deps import NowDep, RuntimeDep
from pager.services.console.sessions import (
    SESSION_COOKIE,
    SESSION_LENGTH,
    ConsoleSession,
    Visitor,
    anonymous_session,
    csrf_matches,
    seal,
    unseal,
    visitor_of,
)
from pager.services.people.tokens import ROLE_RANK
from pager.services.runtime import Runtime
from pager.settings import require_secret_key

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["instant"] = lambda value: (
    f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if value else "-"
)


@dataclass
class Page:
    """One request's console state: the session (maybe fresh), who is logged in, the runtime, now."""

    request: Request
    runtime: Runtime
    now: datetime
    session: ConsoleSession
    visitor: Visitor | None
    fresh: bool  # the cookie must be (re)written

    def may(self, role: str) -> bool:
        """Whether the visitor's role is at least `role`."""
        return self.visitor is not None and ROLE_RANK[self.visitor.bearer.role] >= ROLE_RANK[role]

    def render(self, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        """The template `name` with the page's own values, the session cookie written when needed."""
        values = {"page": self, "csrf": self.session.csrf, "visitor": self.visitor, **context}
        response = templates.TemplateResponse(self.request, name, values, status_code=status_code)
        if self.fresh:
            self.keep(response, self.session)
        return response

    def redirect(self, url: str, session: ConsoleSession | None = None) -> RedirectResponse:
        """303 to `url` (a local path), writing `session` as the new cookie when given."""
        response = RedirectResponse(url, status_code=303)
        if session is not None:
            self.keep(response, session)
        elif self.fresh:
            self.keep(response, self.session)
        return response

    def keep(self, response: Response, session: ConsoleSession) -> None:
        """Write `session` as the cookie (HttpOnly, SameSite=Lax, Secure behind https)."""
        response.set_cookie(
            SESSION_COOKIE,
            seal(secret_key(self.runtime), session),
            max_age=int(SESSION_LENGTH.total_seconds()),
            httponly=True,
            samesite="lax",
            secure=self.runtime.settings.public_url.startswith("https://"),
            path="/",
        )


def secret_key(runtime: Runtime) -> str:
    """The key that signs sessions and login links (the server refuses to start without one)."""
    return require_secret_key(runtime.settings)


def current_page(request: Request, runtime: RuntimeDep, now: NowDep) -> Page:
    """The request's page state; sync, so FastAPI runs it in a thread (it reads the database)."""
    session = unseal(secret_key(runtime), request.cookies.get(SESSION_COOKIE), now)
    fresh = session is None
    if session is None:
        session = anonymous_session(now)
    visitor = visitor_of(runtime.engine, session) if session.logged_in else None
    return Page(request, runtime, now, session, visitor, fresh)


PageDep = Annotated[Page, Depends(current_page)]


def logged_in_page(page: PageDep) -> Page:
    """The page state of a logged-in visitor; anyone else is sent to /login (and back afterwards)."""
    if page.visitor is None:
        target = page.request.url.path
        if page.request.url.query:
            target += "?" + page.request.url.query
        raise HTTPException(303, "log in first", headers={"Location": f"/login?next={quote(target)}"})
    return page


LoggedInDep = Annotated[Page, Depends(logged_in_page)]


async def csrf_checked(request: Request, page: PageDep) -> Page:
    """The page state of a POST whose CSRF token matches the session's; 403 otherwise."""
    form = await request.form()
    presented = form.get("csrf")
    if not isinstance(presented, str):
        presented = request.headers.get("x-csrf-token")
    if page.fresh or not csrf_matches(page.session, presented):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
    return page


CsrfDep = Annotated[Page, Depends(csrf_checked)]


def require(page: Page, role: str) -> Visitor:
    """The logged-in visitor when their role is at least `role`: 401 when nobody is, 403 when too low."""
    if page.visitor is None:
        raise HTTPException(401, "log in first")
    if not page.may(role):
        raise HTTPException(403, f"this needs the {role} role; yours is {page.visitor.bearer.role}")
    return page.visitor


def local_path(target: str | None) -> str:
    """`target` when it is a path on this site, else `/` (a login never redirects elsewhere)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"
