"""Postmortems (docs/incidents.md, "Postmortems"): opened once per incident when it is resolved,
written from the Markdown template in pager/templates/postmortem.md, moved draft -> in_review ->
published, edited until published; every move on the incident's timeline.

Each function runs in the caller's transaction (the command or route owns it).
"""

from __future__ import annotations

import json
from datetime import datetime
from importlib import resources
from typing import Any, Literal

from sqlmodel import Session

from pager.core.action_items import owner_zone
from pager.core.incident_model import IncidentRules
from pager.core.localtime import format_instant
from pager.core.postmortem_due import postmortem_due_at
from pager.core.postmortem_text import refresh_action_items, render_postmortem
from pager.core.postmortems import (
    PostmortemMoveRefused,
    check_postmortem_move,
    time_to_acknowledge,
    time_to_resolve,
)
from pager.db.incident_tables import Incident, Postmortem
from pager.db.incident_timeline import add_incident_event
from pager.db.incidents import find_incident, lock_incident
from pager.db.postmortems import insert_postmortem, postmortem_of_incident
from pager.services.errors import Conflict, InvalidInput, NotFound
from pager.services.incidents.postmortem_facts import (
    action_item_lines,
    current_commander,
    load_postmortem_facts,
)
from pager.services.people.direct_pages import cancel_direct_pages

PostmortemFormat = Literal["md", "json"]
POSTMORTEM_FORMATS = ("md", "json")
MAX_BODY_CHARS = 200_000


def postmortem_template() -> str:
    """The Markdown template shipped in the package (pager/templates/postmortem.md)."""
    return resources.files("pager").joinpath("templates/postmortem.md").read_text(encoding="utf-8")


def require_incident(session: Session, incident_id: int, *, lock: bool = False) -> Incident:
    """Incident `incident_id`, or NotFound."""
    incident = lock_incident(session, incident_id) if lock else find_incident(session, incident_id)
    if incident is None:
        raise NotFound(f"no incident {incident_id}")
    return incident


def open_postmortem(
    session: Session, incident: Incident, rules: IncidentRules, now: datetime, *, by: str = "system"
) -> Postmortem:
    """The incident's postmortem, opened now as a draft if it has none (idempotent: one per incident).

    Due `rules.postmortem_due` after the incident was resolved (or `now`): business days counted in
    the current commander's zone (their time zone, else UTC), or a plain duration.
    """
    assert incident.id is not None
    existing = postmortem_of_incident(session, incident.id)
    if existing is not None:
        return existing
    commander = current_commander(session, incident.id)
    tz = owner_zone(commander.time_zone if commander is not None else None)
    due_at = postmortem_due_at(incident.resolved_at or now, rules.postmortem_due, tz)
    body = render_postmortem(postmortem_template(), load_postmortem_facts(session, incident))
    postmortem = insert_postmortem(session, incident_id=incident.id, body=body, due_at=due_at, now=now)
    if postmortem is None:  # another transaction opened it first
        stored = postmortem_of_incident(session, incident.id)
        assert stored is not None
        return stored
    add_incident_event(
        session,
        incident.id,
        now,
        "postmortem_opened",
        by,
        f"postmortem opened as a draft, due {format_instant(due_at)}",
        {"postmortem_id": postmortem.id, "due_at": format_instant(due_at)},
    )
    return postmortem


def require_postmortem(
    session: Session, incident_id: int, *, lock: bool = False
) -> tuple[Incident, Postmortem]:
    """The incident and its postmortem, or NotFound saying which is missing."""
    incident = require_incident(session, incident_id)
    postmortem = postmortem_of_incident(session, incident_id, lock=lock)
    if postmortem is None:
        raise NotFound(f"incident {incident_id} has no postmortem yet: one is opened when it is resolved")
    return incident, postmortem


def postmortem_document(session: Session, incident_id: int) -> dict[str, Any]:
    """The postmortem as JSON: its state, this incident's MTTA and MTTR (seconds), and its body."""
    incident, postmortem = require_postmortem(session, incident_id)
    facts = load_postmortem_facts(session, incident)
    mtta, mttr = time_to_acknowledge(facts), time_to_resolve(facts)
    return {
        "id": postmortem.id,
        "incident_id": incident.id,
        "incident_number": incident.number,
        "title": incident.title,
        "drill": incident.drill,
        "status": postmortem.status,
        "due_at": format_instant(postmortem.due_at),
        "published_at": format_instant(postmortem.published_at) if postmortem.published_at else None,
        "created_at": format_instant(postmortem.created_at),
        "updated_at": format_instant(postmortem.updated_at),
        "mtta_seconds": None if mtta.span is None else int(mtta.span.total_seconds()),
        "mttr_seconds": None if mttr.span is None else int(mttr.span.total_seconds()),
        "body": postmortem.body,
    }


def show_postmortem(session: Session, incident_id: int, format: str = "md") -> str:
    """The postmortem as text: its Markdown body (`md`) or its JSON document (`json`)."""
    if format not in POSTMORTEM_FORMATS:
        raise InvalidInput(f"unknown format {format!r}: use md or json")
    if format == "json":
        return json.dumps(postmortem_document(session, incident_id), indent=2)
    return require_postmortem(session, incident_id)[1].body


def move_postmortem(session: Session, incident_id: int, status: str, *, by: str, now: datetime) -> Postmortem:
    """Move the postmortem to `status` (draft -> in_review -> published; in_review -> draft).

    A bad move is refused (InvalidInput for an unknown status, Conflict otherwise) and changes
    nothing. Publishing is final and cancels the commander's reminder pages not sent yet.
    """
    _, postmortem = require_postmortem(session, incident_id, lock=True)
    try:
        target = check_postmortem_move(postmortem.status, status)
    except PostmortemMoveRefused as exc:
        error = InvalidInput if status not in ("draft", "in_review", "published") else Conflict
        raise error(f"incident {incident_id}: {exc}") from None
    before = postmortem.status
    postmortem.status = target
    postmortem.updated_at = now
    if target == "published":
        postmortem.published_at = now
        cancel_direct_pages(session, f"postmortem:{postmortem.id}", now)
    session.add(postmortem)
    add_incident_event(
        session,
        incident_id,
        now,
        f"postmortem_{target}",
        by,
        f"postmortem moved from {before} to {target}",
        {"postmortem_id": postmortem.id, "from": before, "to": target},
    )
    return postmortem


def edit_postmortem(session: Session, incident_id: int, body: str, *, by: str, now: datetime) -> Postmortem:
    """Replace the postmortem's Markdown body (not once it is published)."""
    if not body.strip():
        raise InvalidInput("the postmortem body must not be empty")
    if "\x00" in body:
        raise InvalidInput("the postmortem body holds a NUL character; give it as UTF-8 text")
    if len(body) > MAX_BODY_CHARS:
        raise InvalidInput(f"the postmortem body is {len(body)} characters; at most {MAX_BODY_CHARS}")
    _, postmortem = require_postmortem(session, incident_id, lock=True)
    if postmortem.status == "published":
        raise Conflict(f"incident {incident_id}: the postmortem is published: that is final")
    postmortem.body = body
    postmortem.updated_at = now
    session.add(postmortem)
    add_incident_event(
        session,
        incident_id,
        now,
        "postmortem_edited",
        by,
        f"postmortem edited ({len(body)} characters)",
        {"postmortem_id": postmortem.id},
    )
    return postmortem


def refresh_postmortem_action_items(session: Session, incident_id: int, now: datetime) -> None:
    """Rewrite the action-items table of the incident's postmortem, unless it is published or its
    writer removed the markers around the table."""
    postmortem = postmortem_of_incident(session, incident_id, lock=True)
    if postmortem is None or postmortem.status == "published":
        return
    body = refresh_action_items(postmortem.body, action_item_lines(session, incident_id))
    if body != postmortem.body:
        postmortem.body = body
        postmortem.updated_at = now
        session.add(postmortem)
