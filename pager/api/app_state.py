"""What an app keeps for its life on `app.state`: made on first use, the same object afterwards.

The trigger writer's throttle, the remembered keys, the failure limiters, the feed threads and the
single flights all live here, one per app (per server process). A test or a bench may set its own
under the same name before the first request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from starlette.applications import Starlette
from starlette.requests import HTTPConnection

T = TypeVar("T")

# Sync routes run on worker threads: two first requests at once must not each make their own (one
# would be lost with what it counted).
_making = threading.Lock()


def app_object(owner: Starlette | HTTPConnection, name: str, make: Callable[[], T]) -> T:
    """`app.state.<name>` of `owner` (the app, or a request to it), made by `make` on first use."""
    app = owner.app if isinstance(owner, HTTPConnection) else owner
    value: T | None = getattr(app.state, name, None)
    if value is None:
        with _making:
            value = getattr(app.state, name, None)
            if value is None:
                value = make()
                setattr(app.state, name, value)
    return value
