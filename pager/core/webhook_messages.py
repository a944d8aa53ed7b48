"""What an outgoing webhook says (docs/integrations.md): the Standard Webhooks body, and the readable
Slack / Mattermost incoming-webhook messages. Pure: every value is passed in.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pager.core.durations import format_duration


def standard_body(event_type: str, timestamp: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """The `standard` format's JSON body: {"type", "timestamp", "data"} (timestamp ISO 8601 UTC)."""
    return {"type": event_type, "timestamp": _iso(timestamp), "data": data}


def event_text(event_type: str, data: dict[str, Any]) -> str:
    """One readable line (or a few) for a chat channel."""
    link = f" <{data['url']}|open>" if data.get("url") else ""
    if event_type.startswith("alert."):
        what = event_type.removeprefix("alert.")
        service = f" [{data['service']}]" if data.get("service") else ""
        by = f" by {data['by']}" if data.get("by") else ""
        return f"Alert #{data.get('alert_id')}{service} {what}{by}: {data.get('summary', '')}{link}".rstrip()
    name = f"Incident #{data.get('number', data.get('incident_id'))} {data.get('title', '')}".rstrip()
    drill = "[DRILL] " if data.get("drill") else ""
    if event_type == "incident.declared":
        commander = data.get("commander") or "nobody yet"
        return f"{drill}:rotating_light: {name} declared, {data.get('severity')}, commander {commander}{link}"
    if event_type == "incident.severity_changed":
        return f"{drill}{name}: severity {data.get('from')} → {data.get('to')}{link}"
    if event_type == "incident.status_changed":
        return f"{drill}{name}: status {data.get('from')} → {data.get('to')}{link}"
    if event_type == "incident.role_assigned":
        return f"{drill}{name}: {data.get('role')} is now {data.get('user')}{link}"
    if event_type == "incident.update_posted":
        return f"{drill}{name}: status update ({data.get('status')})\n{data.get('message', '')}{link}"
    if event_type == "incident.resolved":
        seconds = data.get("duration_s")
        lasted = (
            f" after {format_duration(timedelta(seconds=int(seconds)))}"
            if isinstance(seconds, int | float)
            else ""
        )
        return f"{drill}:white_check_mark: {name} resolved{lasted}{link}"
    if event_type == "incident.postmortem_published":
        return f"{drill}{name}: postmortem published{link}"
    if event_type == "incident.action_item_created":
        owner = f" (owner {data['owner']})" if data.get("owner") else ""
        return f"{drill}{name}: action item: {data.get('action', '')}{owner}{link}"
    return f"{drill}{name}: {event_type}{link}"


def slack_body(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message: {"text"} (mrkdwn)."""
    return {"text": event_text(event_type, data)}


def mattermost_body(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """A Mattermost incoming-webhook message: {"text", "username"}; Mattermost reads the same link syntax."""
    return {"text": event_text(event_type, data), "username": "pager"}


def _iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")
