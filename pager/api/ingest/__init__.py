"""Alert ingest over HTTP: `/v2/enqueue` (PagerDuty Events API v2, `pagerduty`) and
`/integrations/{kind}/{key}` (`integrations`).

Every accepted request has committed its alert change and outbox rows before it is answered 202; the
worker (woken at once) does the paging after the response. Bodies are capped at 512 KB before they
are read (pager.api.body_limits). `/v2/enqueue` answers with PagerDuty's own bodies (clients of that
API parse them); the integrations answer with pager's one error shape.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from pager.api.ingest import integrations, pagerduty

# Routes, not a router: `pager.api.app.create_app` puts them first among the app's own routes.
routes: list[BaseRoute] = [*pagerduty.router.routes, *integrations.router.routes]
