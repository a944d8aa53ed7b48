"""The fake Twilio's `/_fake/...` endpoints: another process (an e2e test driving a server process, the
bench) inspects and programs the fake over HTTP.

- `GET /_fake/requests`, `/_fake/messages`, `/_fake/calls`: what the fake received and holds;
- `POST /_fake/faults` `{"kind", "record", "delay", "to", "count", "method"}`, `DELETE /_fake/faults`;
- `POST /_fake/status_callbacks` `{"sid", "status", "error_code"}`: a signed status callback;
- `POST /_fake/outage` `{"seconds"}`: refuse connections for that long.
"""

from __future__ import annotations

import json
import urllib.error
from typing import TYPE_CHECKING

from pager.testing.fake_twilio_faults import FAULT_KINDS, Fault
from pager.testing.json_http import Answer

if TYPE_CHECKING:
    from pager.testing.fake_twilio import FakeTwilio


def serve_control(fake: FakeTwilio, method: str, path: str, body: bytes) -> Answer:
    """Answer one `/_fake/...` request to `fake`."""
    if (method, path) == ("GET", "/_fake/requests"):
        return 200, [r.to_json() for r in fake.requests]
    if (method, path) == ("GET", "/_fake/messages"):
        return 200, fake.messages
    if (method, path) == ("GET", "/_fake/calls"):
        return 200, fake.calls
    if (method, path) == ("DELETE", "/_fake/faults"):
        fake.clear_faults()
        return 200, {"ok": True}
    try:
        doc = json.loads(body or b"{}")
        if (method, path) == ("POST", "/_fake/faults"):
            if doc.get("kind") not in FAULT_KINDS:
                raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
            fault = Fault(doc["kind"], bool(doc.get("record", True)), doc.get("delay"))
            if doc.get("to"):
                fake.fail_to(str(doc["to"]), fault, count=doc.get("count"))
            else:
                fake.fail_next(fault, count=int(doc.get("count", 1)), method=doc.get("method", "POST"))
            return 200, {"ok": True}
        if (method, path) == ("POST", "/_fake/status_callbacks"):
            status = fake.send_status_callback(
                str(doc["sid"]), str(doc.get("status", "delivered")), doc.get("error_code")
            )
            return 200, {"status_code": status}
        if (method, path) == ("POST", "/_fake/outage"):
            # Answered first; the socket closes a moment later (see FakeTwilio.go_down).
            seconds = float(doc["seconds"])
            fake.go_down(seconds)
            return 200, {"ok": True, "down_for": seconds}
    except (ValueError, KeyError, TypeError, urllib.error.URLError) as error:
        return 400, {"error": repr(error)}
    return 404, {"error": f"no such control endpoint: {method} {path}"}
