"""Housekeeping: records kept for a while, then forgotten by the worker's hourly job.

- `handled_provider_requests`: the keys of Twilio requests already acted on (an SMS's MessageSid, a
  key press's CallSid; see pager.services.phone.replies). Twilio retries a webhook within minutes; a
  captured request could be replayed any time later, so keys are kept REPLAY_KEY_RETENTION (the rows
  are tiny and people send few replies). A request replayed after that acts like a new one: the
  state machine still refuses what no longer applies.
- `console_login_links`: the hashes of console login links already used. A link expires 15 minutes
  after it was made, so a hash is needed no longer than that; they are kept a day.

One short transaction per run: a delete over the index on `handled_at`, nearly always empty.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine

from pager.db.login_links import prune_used_login_links
from pager.db.provider_requests import prune_handled_requests
from pager.db.session import session_scope

log = logging.getLogger("pager.housekeeping")

REPLAY_KEY_RETENTION = timedelta(days=30)
USED_LOGIN_LINK_RETENTION = timedelta(days=1)
HOUSEKEEPING_EVERY = timedelta(hours=1)


def prune_expired(engine: Engine, now: datetime) -> int:
    """Forget what is kept no longer at `now`; how many rows were forgotten."""
    with session_scope(engine) as session:
        forgotten = prune_handled_requests(session, now - REPLAY_KEY_RETENTION)
        links = prune_used_login_links(session, now - USED_LOGIN_LINK_RETENTION)
    if forgotten:
        log.info("housekeeping_pruned table=handled_provider_requests rows=%d", forgotten)
    if links:
        log.info("housekeeping_pruned table=console_login_links rows=%d", links)
    return forgotten + links
