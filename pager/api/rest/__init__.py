"""REST API /api/v1: one router per concern, each route guarded by a bearer-token role.

Roles: viewer reads everything except tokens (and integration keys); responder may also act on
alerts and manage overrides; admin may do everything (users, tokens, key rotation). See docs/api.md.
"""

from __future__ import annotations

from fastapi import APIRouter

from pager.api.rest import (
    action_items,
    alerts,
    heartbeat_monitors,
    incident_updates,
    incidents,
    maintenance,
    overrides,
    people,
    policies,
    postmortems,
    reports,
    schedules,
    tokens,
    users,
    webhooks,
)

router = APIRouter(prefix="/api/v1")
for _module in (
    users,
    people,
    schedules,
    overrides,
    policies,
    alerts,
    maintenance,
    tokens,
    heartbeat_monitors,
    incident_updates,
    incidents,
    postmortems,
    action_items,
    reports,
    webhooks,
):
    router.include_router(_module.router)
