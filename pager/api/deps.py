"""FastAPI dependencies: the runtime, a session per request, the clock, and bearer-token roles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from pager.db.session import session_scope
from pager.db.tables import ApiToken
from pager.services.runtime import Runtime
from pager.services.tokens import ROLE_RANK, authenticate

# Id columns are 32-bit integers: a larger id in a path or query is invalid input, not a database error.
MAX_ID = 2**31 - 1

_bearer = HTTPBearer(auto_error=False, description="An API token from `pager token create`.")


async def get_runtime(request: Request) -> Runtime:
    """The process's runtime (set by create_app); async because it never blocks (no threadpool hop)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_now() -> datetime:
    """The clock at the HTTP edge (overridden in tests)."""
    return datetime.now(UTC)


def get_session(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back if it raises."""
    with session_scope(runtime.engine) as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[Session, Depends(get_session)]
NowDep = Annotated[datetime, Depends(get_now)]


def require_role(minimum: str) -> Callable[..., ApiToken]:
    """A dependency admitting bearer tokens of at least `minimum` (viewer < responder < admin)."""

    def check(
        runtime: RuntimeDep,
        now: NowDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiToken:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        with session_scope(runtime.engine) as session:
            token = authenticate(session, credentials.credentials, now)
        if token is None:
            raise HTTPException(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
        if ROLE_RANK[token.role] < ROLE_RANK[minimum]:
            raise HTTPException(403, f"this needs a {minimum} token; yours is {token.role}")
        return token

    return check


ViewerDep = Annotated[ApiToken, Depends(require_role("viewer"))]
ResponderDep = Annotated[ApiToken, Depends(require_role("responder"))]
AdminDep = Annotated[ApiToken, Depends(require_role("admin"))]
