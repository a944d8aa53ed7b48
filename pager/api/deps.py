"""FastAPI dependencies: the runtime, the clock, and bearer-token roles.

There is deliberately no session dependency: FastAPI enters and leaves a yield dependency on
different threads and holds it for the whole request, which once left SQLite's writer lock held
for good. Routes run their use case through `pager.services.transactions` instead.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pager.services.people.tokens import ROLE_RANK, Bearer
from pager.services.runtime import Runtime

# Id columns are 32-bit integers: a larger id in a path or query is invalid input, not a database error.
MAX_ID = 2**31 - 1

_bearer = HTTPBearer(auto_error=False, description="An API token from `pager token create`.")


async def get_runtime(request: Request) -> Runtime:
    """The process's runtime (set by create_app); async because it never blocks (no threadpool hop)."""
    return runtime_of(request)


async def get_now() -> datetime:
    """The clock at the HTTP edge (overridden in tests)."""
    return datetime.now(UTC)


def runtime_of(request: Request) -> Runtime:
    """`get_runtime` for a route that declares no dependencies (see `request_now`)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def request_now(request: Request) -> datetime:
    """`get_now` for a route that declares no dependencies: the ingest routes, where FastAPI's
    dependency machinery took about a tenth of a deduplicated event's time (docs/architecture.md,
    "One alert, from webhook to SMS and back"). A test's `app.dependency_overrides[get_now]` is
    honoured as it is for a dependency."""
    override = request.app.dependency_overrides.get(get_now)
    if override is None:
        return datetime.now(UTC)
    now = override()
    if inspect.isawaitable(now):
        now = await now
    assert isinstance(now, datetime)
    return now


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
NowDep = Annotated[datetime, Depends(get_now)]


def require_role(minimum: str) -> Callable[..., Awaitable[Bearer]]:
    """A dependency admitting bearer tokens of at least `minimum` (viewer < responder < admin).

    The token was already looked up, read-only and before the body was read, by
    `pager.api.authentication.BearerAuthentication`; this only checks its role. `_bearer` is here
    so that OpenAPI documents the scheme.
    """

    async def check(  # async: it never blocks, so no threadpool hop
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Bearer:
        bearer = request.scope.get("state", {}).get("bearer")
        if not isinstance(bearer, Bearer):
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        if ROLE_RANK[bearer.role] < ROLE_RANK[minimum]:
            raise HTTPException(403, f"this needs a {minimum} token; yours is {bearer.role}")
        return bearer

    return check


ViewerDep = Annotated[Bearer, Depends(require_role("viewer"))]
ResponderDep = Annotated[Bearer, Depends(require_role("responder"))]
AdminDep = Annotated[Bearer, Depends(require_role("admin"))]
