"""What the status page shows, read in one short read-only transaction with bounded sizes.

Components are the services of the loaded policy files (their ids and names; nothing else of them).
The incidents are the open ones and those declared in the last 90 days that are not drills and
affect customers or have a public update; of each, at most UPDATES_PER_INCIDENT public updates,
the newest. `pager.core.status_page.build_status_page` decides the rest.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from pager.config.loader import LoadedConfig
from pager.core.status_page import (
    ComponentRef,
    IncidentFacts,
    StatusPage,
    UpdateFacts,
    build_status_page,
    history_since,
)
from pager.db.incidents import services_of
from pager.db.session import session_scope
from pager.db.status_queries import (
    limit_statement_time,
    newest_public_updates,
    shown_open_incidents,
    shown_past_incidents,
    snapshot_engine,
)

MAX_OPEN_INCIDENTS = 25
MAX_PAST_INCIDENTS = 100
UPDATES_PER_INCIDENT = 25


def components_of(config: LoadedConfig) -> list[ComponentRef]:
    """The declared services as components, by name."""
    refs = [ComponentRef(service_id, ref.name) for service_id, (ref, _policy) in config.services.items()]
    return sorted(refs, key=lambda c: (c.name.casefold(), c.id))


def load_status_page(engine: Engine, config: LoadedConfig, now: datetime) -> StatusPage:
    """The status page as of `now`: four bounded statements in one read-only transaction."""
    with session_scope(snapshot_engine(engine), read_only=True) as session:
        limit_statement_time(session)
        incidents = [
            *shown_open_incidents(session, MAX_OPEN_INCIDENTS),
            *shown_past_incidents(session, history_since(now), MAX_PAST_INCIDENTS),
        ]
        ids = [incident.id for incident in incidents if incident.id is not None]
        services = services_of(session, ids)
        updates = newest_public_updates(session, ids, UPDATES_PER_INCIDENT + 1)
        facts = [
            IncidentFacts(
                id=incident.id,
                number=incident.number,
                severity=incident.severity,
                status=incident.status,
                drill=incident.drill,
                customer_impact=incident.customer_impact,
                declared_at=incident.declared_at,
                resolved_at=incident.resolved_at,
                service_ids=tuple(services.get(incident.id, ())),
            )
            for incident in incidents
            if incident.id is not None
        ]
        update_facts = [
            UpdateFacts(u.id, u.incident_id, u.at, u.message, u.public, u.status)
            for u in updates
            if u.id is not None
        ]
    return build_status_page(now, components_of(config), facts, update_facts, UPDATES_PER_INCIDENT)
