"""What both ingest routers share: the app's trigger writer, known keys and throttle, the unknown-key
flood check, and request-body schemas for OpenAPI."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from fastapi import Request
from pydantic import BaseModel
from starlette.applications import Starlette

from pager.api.app_state import app_object
from pager.api.failure_limits import UNKNOWN_INTEGRATION_KEY, refuse_if_blocked
from pager.db.tables import Service
from pager.services.alerting.trigger_batch import TriggerBatcher
from pager.services.ingest import events as ingest
from pager.services.ingest.keys import KnownKeys, Throttle
from pager.services.operations.metrics import INGEST_SECONDS, timed
from pager.services.runtime import Runtime

_KNOWN_KEYS = "ingest_known_keys"
timed_receive = timed(INGEST_SECONDS, ingest.receive)  # every webhook and event, into pager_ingest_seconds


def triggers_of(request: Request, runtime: Runtime) -> TriggerBatcher:
    """The app's trigger writer (created on first use), which groups triggers per commit on SQLite."""
    state = request.app.state
    triggers: TriggerBatcher | None = getattr(state, "ingest_triggers", None)
    if triggers is None or triggers.runtime is not runtime:
        triggers = state.ingest_triggers = TriggerBatcher(runtime)
    return triggers


def remember_service_keys(app: Starlette, services: Iterable[Service]) -> None:
    """Start the app knowing the integration keys of `services`, rows just read (as `pager serve`
    starts): a sender of unknown keys sharing an address with a good integration must not get that
    integration's first alerts after a restart refused (the unknown-key block)."""
    setattr(app.state, _KNOWN_KEYS, KnownKeys(service.integration_key for service in services))


def known_keys_of(request: Request) -> KnownKeys:
    """The app's remembered integration keys."""
    return app_object(request, _KNOWN_KEYS, KnownKeys)


def throttle_of(request: Request) -> Throttle:
    """The app's per-key throttle."""
    return app_object(request, "ingest_throttle", Throttle)


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`model`'s JSON schema with its $defs inlined, to sit in an OpenAPI requestBody."""
    schema = model.model_json_schema(by_alias=True)
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(copy.deepcopy(defs[ref.removeprefix("#/$defs/")]))
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def request_body(model: type[BaseModel], example: dict[str, Any]) -> dict[str, Any]:
    content = {"application/json": {"schema": inline_schema(model), "example": example}}
    return {"requestBody": {"required": True, "content": content}}


def refuse_unknown_key_flood(request: Request, integration_key: str) -> None:
    """TooManyFailures when the client sent too many unknown keys lately and this key is not one this
    process knows (a known key is never refused for them: one bad sender must not block the good
    integrations sharing its address). Asks neither the body nor the database."""
    if integration_key not in known_keys_of(request):
        refuse_if_blocked(request, UNKNOWN_INTEGRATION_KEY)
