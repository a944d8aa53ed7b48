"""`app_object`: one object per app and name, made once, even by first requests that come at once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from starlette.applications import Starlette
from starlette.requests import Request

from pager.api.app_state import app_object


def test_first_uses_at_once_make_one_object() -> None:
    # Sync routes run on worker threads: two first requests at once each made their own throttle, and
    # what one counted was lost with it.
    app = Starlette()
    made: list[object] = []
    start = threading.Barrier(8)

    def make() -> object:
        made.append(thing := object())
        time.sleep(0.05)  # long enough for every other thread to look meanwhile
        return thing

    def first_use() -> object:
        start.wait()
        return app_object(app, "throttle", make)

    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda _: first_use(), range(8)))
    assert len(made) == 1
    assert all(thing is made[0] for thing in got)


def test_an_empty_object_is_kept_not_made_again() -> None:
    # The remembered heartbeat keys start as an empty set: "not made yet" is None, not "empty".
    app = Starlette()
    keys = app_object(app, "keys", set)
    assert app_object(app, "keys", set) is keys


def test_a_request_reaches_its_apps_objects_and_one_set_beforehand_is_used() -> None:
    app = Starlette()
    own = ["set by a test"]
    app.state.thing = own
    request = Request({"type": "http", "app": app, "method": "GET", "path": "/", "headers": []})
    assert app_object(request, "thing", list) is own
    assert app_object(request, "other", dict) is app_object(app, "other", dict)
