"""A fake Twilio REST API on loopback that the real `twilio` SDK talks to unmodified.

Serves `/2010-04-01/Accounts/{sid}/Messages.json` and `/Calls.json` (create, filtered and paged list,
single fetch) in the JSON shapes of the real API, checks HTTP basic auth, records every request, injects
faults (500, 429, 21211, hang, dropped connection, an outage refusing connections; fake_twilio_faults)
and posts signed status callbacks. Another process programs it over `/_fake/...` (fake_twilio_control).

A created resource is answered `queued` exactly like the real API; the stored copy then moves on at once
(message `sent` with `date_sent`, call `ringing` with `start_time`), as the real provider does within a
second, so reconciliation by `date_sent` / `start_time` finds it. Times have one-second resolution.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import json
import re
import signal
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.message import Message
from typing import Any, Literal

from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from pager.testing.fake_twilio_control import serve_control
from pager.testing.fake_twilio_faults import FAULT_KINDS, Fault, FaultKind, FaultRules
from pager.testing.fake_twilio_shapes import (
    API_VERSION,
    auth_error,
    create_problem,
    fault_answer,
    filter_resources,
    list_page,
    new_document,
    not_found,
    rfc2822,
    twilio_error,
)
from pager.testing.json_http import Answer, JsonHttpServer

__all__ = [
    "FAULT_KINDS",
    "FakeTwilio",
    "Fault",
    "FaultKind",
    "RecordedRequest",
    "main",
    "post_signed_webhook",
    "twilio_client",
]

_ROUTE = re.compile(r"^/2010-04-01/Accounts/([^/]+)/(Messages|Calls)(?:/([^/]+))?\.json$")


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received (API paths only, not `/_fake/...`)."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    time: datetime

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form, as served by `GET /_fake/requests`."""
        doc = asdict(self)
        doc["time"] = self.time.isoformat()
        return doc


@dataclass
class _Resource:
    collection: Literal["Messages", "Calls"]
    doc: dict[str, Any]
    sent_at: datetime
    ended_at: datetime | None = None
    status_callback: str | None = None


def twilio_client(
    base_url: str, account_sid: str, auth_token: str, *, timeout: float | None = None
) -> Client:
    """A real `twilio.rest.Client` whose REST calls (api.twilio.com) go to `base_url` instead."""
    client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))
    # TWILIO_EDGE / TWILIO_REGION in the environment would rewrite the host name of every URL.
    client.edge = None
    client.region = None
    client.api.base_url = base_url.rstrip("/")
    return client


def post_signed_webhook(url: str, params: Mapping[str, str], auth_token: str, timeout: float = 10.0) -> int:
    """POST `params` as a form to `url` with a valid X-Twilio-Signature; returns the HTTP status."""
    signature = str(RequestValidator(auth_token).compute_signature(url, dict(params)))
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(params).encode(),
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


class FakeTwilio:
    """The fake server; use as a context manager (binds 127.0.0.1 on a free port by default)."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._address = (host, port)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._requests: list[RecordedRequest] = []
        self._resources: list[_Resource] = []
        self._faults = FaultRules()
        self._stopping = threading.Event()
        self._http: JsonHttpServer | None = None

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> FakeTwilio:
        """Bind and serve in a background thread."""
        self._stopping.clear()
        self._http = JsonHttpServer(self, *self._address).start()
        return self

    def stop(self) -> None:
        """Release hanging requests (without an answer), stop serving and close the socket."""
        self._stopping.set()
        if self._http is not None:
            self._http.stop()
        self._http = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def go_down(self, seconds: float) -> None:
        """An outage: close the listening socket (connections are refused) and listen again on the same
        port after `seconds`. What the fake has on record is kept, as the real provider's would be."""
        http = self._http
        if http is None:
            raise RuntimeError("FakeTwilio is not running")
        host, port = http.address
        # Another thread: the caller may be one of this server's own request threads.
        threading.Thread(target=self._outage, args=(http, host, port, seconds), daemon=True).start()

    def _outage(self, http: JsonHttpServer, host: str, port: int, seconds: float) -> None:
        http.stop()
        self._http = None
        if not self._stopping.wait(seconds):
            self._http = JsonHttpServer(self, host, port).start()

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`, to put where `https://api.twilio.com` would be."""
        if self._http is None:
            raise RuntimeError("FakeTwilio is not running")
        return self._http.base_url

    # -- what happened -------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every API request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Created messages as the API returns them now, oldest first."""
        return self._docs("Messages")

    @property
    def calls(self) -> list[dict[str, Any]]:
        """Created calls as the API returns them now, oldest first."""
        return self._docs("Calls")

    def _docs(self, collection: str) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(json.dumps(r.doc)) for r in self._resources if r.collection == collection]

    def wait_for_requests(self, count: int, timeout: float) -> bool:
        """Block until at least `count` API requests arrived or `timeout` seconds passed."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._requests) >= count, timeout)

    # -- faults --------------------------------------------------------------------------------------

    def fail_next(self, fault: Fault, *, count: int = 1, method: str | None = "POST") -> None:
        """Apply `fault` to the next `count` API requests with this method (None: any method)."""
        self._faults.add(fault, method=method, to=None, count=count)

    def fail_to(self, number: str, fault: Fault, *, count: int | None = None) -> None:
        """Apply `fault` to creates addressed to `number` (the next `count` of them; None: all)."""
        self._faults.add(fault, method="POST", to=number, count=count)

    def clear_faults(self) -> None:
        """Forget every programmed fault."""
        self._faults.clear()

    # -- status callbacks ----------------------------------------------------------------------------

    def send_status_callback(self, sid: str, status: str = "delivered", error_code: int | None = None) -> int:
        """Set the status of message/call `sid` and POST the signed callback; returns the HTTP status."""
        now = self._now()
        with self._lock:
            resource = next((r for r in self._resources if r.doc["sid"] == sid), None)
            if resource is None:
                raise KeyError(sid)
            if resource.status_callback is None:
                raise ValueError(f"{sid} was created without a StatusCallback")
            doc = resource.doc
            doc.update(status=status, date_updated=rfc2822(now))
            common = {"AccountSid": self.account_sid, "ApiVersion": API_VERSION, "From": doc["from"]}
            if resource.collection == "Messages":
                doc.update(error_code=error_code)
                params = common | {"To": doc["to"], "MessageSid": sid, "SmsSid": sid}
                params |= {"MessageStatus": status, "SmsStatus": status}
            else:
                if status in ("completed", "busy", "no-answer", "failed", "canceled"):
                    resource.ended_at = now
                    doc.update(end_time=rfc2822(now), duration="0")
                params = common | {"To": doc["to"], "CallSid": sid, "CallStatus": status}
                params |= {"Called": doc["to"], "Caller": doc["from"], "Direction": "outbound-api"}
            if error_code is not None:
                params["ErrorCode"] = str(error_code)
            url = resource.status_callback
        return post_signed_webhook(url, params, self.auth_token)

    # -- request handling (called from server threads) -----------------------------------------------

    def _now(self) -> datetime:
        return self._clock().astimezone(UTC).replace(microsecond=0)

    def _authorized(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header is not None and hmac.compare_digest(header.encode(), f"Basic {expected}".encode())

    def handle(
        self, method: str, path: str, query: dict[str, str], body: bytes, headers: Message
    ) -> Answer | None:
        """Answer one HTTP request (see `JsonApp`): the `/_fake/` control endpoints or the API."""
        if path.startswith("/_fake/"):
            return serve_control(self, method, path, body)
        form = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        return self._serve_api(method, path, query, form, headers["Authorization"])

    def _serve_api(
        self, method: str, path: str, query: dict[str, str], form: dict[str, str], authorization: str | None
    ) -> Answer | None:
        with self._changed:
            self._requests.append(RecordedRequest(method, path, query, form, self._clock()))
            self._changed.notify_all()
        if not self._authorized(authorization):
            return auth_error()
        match = _ROUTE.match(path)
        if match is None or match.group(1) != self.account_sid or method not in ("GET", "POST"):
            return not_found(path)
        collection, sid = match.group(2), match.group(3)

        def normal() -> Answer:
            if sid is not None:
                return self._fetch(sid, path) if method == "GET" else not_found(path)
            return self._create(collection, form) if method == "POST" else self._list(collection, path, query)

        fault = self._faults.take(method, form.get("To") if method == "POST" else None)
        if fault is None:
            return normal()
        if fault.kind not in ("hang", "drop"):
            return fault_answer(fault.kind, form.get("To", ""))
        early = normal() if fault.record else None
        # A hang without delay waits for stop(); stopping releases the request without an answer.
        if fault.kind == "drop" or self._stopping.wait(fault.delay):
            return None
        return early if early is not None else normal()

    def _create(self, collection: str, form: dict[str, str]) -> Answer:
        problem = create_problem(collection, form)
        if problem is not None:
            return problem
        now = self._now()
        doc = new_document(collection, form, self.account_sid, now)
        created = json.loads(json.dumps(doc))
        kind: Literal["Messages", "Calls"] = "Messages" if collection == "Messages" else "Calls"
        with self._lock:
            self._resources.append(_Resource(kind, doc, now, status_callback=form.get("StatusCallback")))
            # The real provider hands the page to the carrier within a second; reflect that at once.
            if collection == "Messages":
                doc.update(status="sent", date_sent=rfc2822(now))
            else:
                doc.update(status="ringing", start_time=rfc2822(now))
        return 201, created

    def _fetch(self, sid: str, path: str) -> Answer:
        with self._lock:
            for resource in self._resources:
                if resource.doc["sid"] == sid:
                    return 200, json.loads(json.dumps(resource.doc))
        return not_found(path)

    def _list(self, collection: str, path: str, query: dict[str, str]) -> Answer:
        with self._lock:
            newest_first = [
                (json.loads(json.dumps(r.doc)), r.sent_at, r.ended_at)
                for r in reversed(self._resources)
                if r.collection == collection
            ]
        try:
            return 200, list_page(filter_resources(newest_first, collection, query), collection, path, query)
        except ValueError as error:
            return twilio_error(400, 20001, str(error))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake as a process; prints its base URL on the first line and serves until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m pager.testing.fake_twilio", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    args = parser.parse_args(argv)
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    # Blocked before the server threads start, so only sigwait below receives them.
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    with FakeTwilio(args.account_sid, args.auth_token, host=args.host, port=args.port) as fake:
        print(fake.base_url, flush=True)
        signal.sigwait(stop_signals)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
