"""/people/{handle}: contact methods, notification rules, a test page button, and the person's
calendar as a webcal:// link with its QR code. Every action is the API's own service call."""

from __future__ import annotations

from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form
from fastapi.responses import Response
from sqlmodel import Session

from pager.api.console.web import CsrfDep, LoggedInDep, Page, require
from pager.api.rest.people import editable
from pager.core.policy import NotificationRule
from pager.db.tables import ContactMethod, User
from pager.services.alerting.alerts import wake_worker
from pager.services.calendars.shifts import FeedTarget, create_feed_token, feed_url
from pager.services.people import reachability, rules, verification
from pager.services.transactions import read_only, read_write

router = APIRouter(include_in_schema=False)


def webcal(url: str) -> str:
    """A feed URL as a calendar app subscribes to it: http(s):// becomes webcal://."""
    return "webcal://" + url.split("://", 1)[1]


def qr_svg(text: str) -> str:
    """`text` as an inline SVG QR code (no XML declaration), drawn dark on light."""
    svg: str = segno.make(text, error="m").svg_inline(scale=4, border=2, title="QR code of the calendar link")
    return svg


def _person_page(page: Page, handle: str, **extra: Any) -> Response:
    def read(session: Session) -> tuple[User, list[ContactMethod], list[NotificationRule], bool]:
        user, methods = verification.list_methods(session, handle)
        found, stored = rules.rules_of(session, handle)
        return user, methods, list(found), stored

    user, methods, person_rules, stored = read_only(page.runtime.engine, read)
    may_edit = page.visitor is not None and page.visitor.bearer.may_edit(user.id)
    return page.render(
        "person.html",
        person=user,
        methods=methods,
        rules=rules.rules_document(person_rules),
        rules_stored=stored,
        may_edit=may_edit,
        **extra,
    )


@router.get("/people/{handle}")
def person_page(page: LoggedInDep, handle: str) -> Response:
    return _person_page(page, handle)


@router.post("/people/{handle}/test-page")
def send_test_page(page: CsrfDep, handle: str, method: Annotated[str, Form(max_length=16)] = "") -> Response:
    """One message to each verified method (or only `method`), now: admins anyone, a person themselves."""
    visitor = require(page, "responder")

    def write(session: Session) -> int:
        editable(session, visitor.bearer, handle)
        return len(reachability.test_page(session, handle, method or None, page.now))

    sent = read_write(page.runtime.engine, write)
    wake_worker(page.runtime)
    return _person_page(page, handle, notice=f"Test page queued to {sent} contact method(s).")


@router.post("/people/{handle}/calendar-link")
def make_calendar_link(page: CsrfDep, handle: str) -> Response:
    """A new calendar token for the person's feed (admins only, as in the API), shown once with its QR."""
    require(page, "admin")
    target = FeedTarget("user", handle)
    _, token = read_write(
        page.runtime.engine, lambda session: create_feed_token(session, target, page.now, page.runtime.config)
    )
    link = webcal(feed_url(page.runtime.settings.public_url, target, token))
    return _person_page(page, handle, calendar_link=link, calendar_qr=qr_svg(link))
