"""The web console in a real browser against a real `pager demo`: logging in, the board, overrides,
alerts and their buttons, roles and CSRF, accessibility (axe) and a phone-sized screen."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Demo, check_accessibility, log_in_with_token
from tests.e2e.conftest import wait_until

pytestmark = pytest.mark.browser


def csrf_of(page: Page) -> str:
    """The session's CSRF token, as the logout form carries it."""
    value = page.locator("form[action='/logout'] input[name=csrf]").get_attribute("value")
    assert value
    return value


def triggered_alert(demo: Demo, summary: str) -> int:
    """Trigger an alert on checkout-api through the events endpoint (as the printed curl does); its id."""
    assert demo.trigger("checkout-api", summary.lower().replace(" ", "-"), summary).status_code == 202
    listed = demo.api("GET", "/api/v1/alerts").json()["items"]
    return int(next(item["id"] for item in listed if item["summary"] == summary))


def test_the_printed_link_logs_in_once(
    demo: Demo, browser: Browser, page: Page, screenshot_dir: Path
) -> None:
    page.goto(f"{demo.url}/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    check_accessibility(page, "login", screenshot_dir)

    page.goto(demo.login_link)
    expect(page).to_have_url(f"{demo.url}/")
    expect(page.get_by_role("heading", name="On call now")).to_be_visible()
    expect(page.get_by_text("Logged in as demo (admin)")).to_be_visible()

    other = browser.new_context().new_page()
    try:
        other.goto(demo.login_link)
        expect(other.get_by_role("alert")).to_contain_text("was used already")
        expect(other.get_by_role("heading", name="Log in to pager")).to_be_visible()
    finally:
        other.context.close()

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{demo.url}/login")
    page.goto(f"{demo.url}/alerts")
    expect(page).to_have_url(re.compile(r"/login\?next=/alerts$"))


def test_an_emailed_link_logs_a_person_in_as_responder(demo: Demo, page: Page, screenshot_dir: Path) -> None:
    page.goto(f"{demo.url}/login")
    page.get_by_label("Your handle").fill("nobody-here")
    page.get_by_role("button", name="Email me a login link").click()
    unknown = page.get_by_role("status").inner_text()
    page.get_by_label("Your handle").fill("alice")
    page.get_by_role("button", name="Email me a login link").click()
    assert page.get_by_role("status").inner_text() == unknown  # the same answer either way

    sent = wait_until(
        "the login email to alice",
        lambda: re.search(r"page method=email to=alice@example\.com .*? body=(\".*\")$", demo.log(), re.M),
        timeout=30,
    )
    link = re.search(r"(http://\S+/login/link\?token=[\w.%-]+)", json.loads(sent.group(1)))
    assert link is not None, sent.group(0)
    assert "nobody-here" not in demo.log()

    page.goto(link.group(1))
    expect(page.get_by_text("Logged in as Alice (responder)")).to_be_visible()
    page.get_by_role("link", name="My settings").click()
    expect(page.get_by_role("heading", name=re.compile("Alice"))).to_be_visible()
    check_accessibility(page, "person", screenshot_dir)
    page.get_by_role("button", name="Send a test page").click()
    expect(page.get_by_role("status")).to_contain_text("Test page queued to 3 contact method(s)")
    # A responder may not make calendar links (admins only, as in the API).
    expect(page.get_by_role("button", name="Make a calendar subscribe link")).to_have_count(0)


def test_an_override_added_on_the_schedule_page_changes_the_board(
    demo: Demo, page: Page, screenshot_dir: Path
) -> None:
    log_in_with_token(page, demo.url, demo.admin_token)
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="Checkout"))
    before = row.locator("td[data-role=primary]").inner_text()
    check_accessibility(page, "board-before", screenshot_dir)
    stand_in = next(h for h in ("bob", "carol", "alice") if h not in before)

    row.get_by_role("link", name="Checkout").click()
    expect(page.get_by_role("img", name="Timeline of Checkout")).to_be_visible()
    chicago = datetime.now(UTC).astimezone(ZoneInfo("America/Chicago"))
    page.get_by_label("Person (handle)").fill(stand_in)
    page.get_by_label("From (America/Chicago)").fill(f"{chicago - timedelta(hours=1):%Y-%m-%dT%H:%M}")
    page.get_by_label("Until (America/Chicago)").fill(f"{chicago + timedelta(hours=3):%Y-%m-%dT%H:%M}")
    page.get_by_role("button", name="Add override").click()
    expect(page).to_have_url(f"{demo.url}/schedules/checkout")
    expect(page.get_by_role("cell", name="console:demo")).to_be_visible()
    check_accessibility(page, "schedule", screenshot_dir)

    page.get_by_role("link", name="On call").click()
    cell = (
        page.get_by_role("row")
        .filter(has=page.get_by_role("link", name="Checkout"))
        .locator("td[data-role=primary]")
    )
    expect(cell).to_have_text(f"{stand_in} (override)")
    check_accessibility(page, "board", screenshot_dir)
    overrides = demo.api("GET", "/api/v1/overrides?schedule=checkout").json()["items"]
    assert [(o["user"], o["created_by"]) for o in overrides] == [(stand_in, "console:demo")]


def test_an_override_the_service_refuses_is_shown_and_nothing_is_stored(demo: Demo, page: Page) -> None:
    log_in_with_token(page, demo.url, demo.admin_token)
    page.goto(f"{demo.url}/schedules/payments")
    page.get_by_label("Person (handle)").fill("nina")
    page.get_by_label("From (Europe/Berlin)").fill("2026-12-20T10:00")
    page.get_by_label("Until (Europe/Berlin)").fill("2026-12-20T09:00")
    page.get_by_role("button", name="Add override").click()
    expect(page.get_by_role("alert")).to_contain_text("end")
    assert demo.api("GET", "/api/v1/overrides?schedule=payments").json()["items"] == []


def test_a_triggered_alert_appears_live_and_is_acknowledged_from_its_page(
    demo: Demo, page: Page, screenshot_dir: Path
) -> None:
    log_in_with_token(page, demo.url, demo.admin_token)
    page.get_by_role("link", name="Alerts").click()
    # The curl `make run` printed, run as printed: a new alert each time (no dedup key in it).
    keys = [demo.run_printed_curl(), demo.run_printed_curl()]
    assert keys[0] != keys[1]
    listed = demo.api("GET", "/api/v1/alerts").json()["items"]
    alert_id = int(next(item["id"] for item in listed if item["dedup_key"] == keys[1]))
    row = page.get_by_role("link", name=str(alert_id), exact=True)
    # No reload: the table's htmx poll brings the new alert in.
    expect(row).to_be_visible(timeout=30_000)
    check_accessibility(page, "alerts", screenshot_dir)

    row.click()
    expect(page).to_have_url(f"{demo.url}/alerts/{alert_id}")
    expect(page.locator("#alert-status")).to_have_text("triggered")
    entries = page.locator("#timeline li").count()
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#alert-status")).to_have_text("acknowledged")
    expect(page.locator("#timeline li").filter(has_text="acknowledged by console:demo")).to_have_count(1)
    assert page.locator("#timeline li").count() > entries
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)  # done; resolve is left
    expect(page.get_by_role("button", name="Resolve")).to_be_visible()
    check_accessibility(page, "alert", screenshot_dir)
    assert demo.api("GET", f"/api/v1/alerts/{alert_id}").json()["acknowledged_by"] == "console:demo"


def test_a_viewer_sees_no_buttons_and_a_forged_post_is_refused(demo: Demo, page: Page) -> None:
    viewer = json.loads(demo.cli("token", "create", "--role", "viewer", "--name", "wall", "--json"))["token"]
    alert_id = triggered_alert(demo, "Browser test: viewer looks on")
    log_in_with_token(page, demo.url, viewer)
    expect(page.get_by_text("Logged in as wall (viewer)")).to_be_visible()

    page.goto(f"{demo.url}/alerts/{alert_id}")
    expect(page.locator("#alert-status")).to_have_text("triggered")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(page.get_by_role("button", name="Snooze")).to_have_count(0)
    page.goto(f"{demo.url}/schedules/checkout")
    expect(page.get_by_role("button", name="Add override")).to_have_count(0)

    csrf = csrf_of(page)  # a valid CSRF token: the role alone must refuse
    forged = page.request.post(f"{demo.url}/alerts/{alert_id}/ack", form={"csrf": csrf})
    assert forged.status == 403, forged.text()
    override = {"csrf": csrf, "kind": "add", "role": "primary", "user": "bob"}
    window = {"start": "2026-12-20T10:00", "end": "2026-12-20T11:00"}
    assert page.request.post(f"{demo.url}/schedules/checkout/overrides", form=override | window).status == 403
    assert demo.api("GET", f"/api/v1/alerts/{alert_id}").json()["status"] == "triggered"


def test_a_post_without_the_csrf_token_is_refused(demo: Demo, page: Page) -> None:
    alert_id = triggered_alert(demo, "Browser test: csrf")
    log_in_with_token(page, demo.url, demo.admin_token)
    assert page.request.post(f"{demo.url}/alerts/{alert_id}/ack", form={}).status == 403
    assert page.request.post(f"{demo.url}/alerts/{alert_id}/ack", form={"csrf": "forged"}).status == 403
    assert page.request.post(f"{demo.url}/logout", form={}).status == 403
    assert demo.api("GET", f"/api/v1/alerts/{alert_id}").json()["status"] == "triggered"
    # The same request with the session's token goes through: the check, not the route, refused.
    assert page.request.post(f"{demo.url}/alerts/{alert_id}/ack", form={"csrf": csrf_of(page)}).ok
    assert demo.api("GET", f"/api/v1/alerts/{alert_id}").json()["status"] == "acknowledged"


def test_a_phone_sized_screen_and_the_keyboard(demo: Demo, browser: Browser, screenshot_dir: Path) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()
    try:
        log_in_with_token(phone, demo.url, demo.admin_token)
        for path in ("/", "/alerts", "/schedules/platform"):
            phone.goto(f"{demo.url}{path}")
            overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} is {overflow}px wider than a phone"
        phone.goto(f"{demo.url}/")
        check_accessibility(phone, "board-phone", screenshot_dir)
        phone.keyboard.press("Tab")
        assert phone.evaluate("document.activeElement.textContent") == "Skip to content"
    finally:
        context.close()


def test_the_api_docs_work_offline(demo: Demo, page: Page) -> None:
    asked: list[str] = []

    def only_local(route: object) -> None:
        request = route.request  # type: ignore[attr-defined]
        asked.append(request.url)
        if request.url.startswith(demo.url):
            route.continue_()  # type: ignore[attr-defined]
        else:
            route.abort()  # type: ignore[attr-defined]

    page.context.route("**/*", only_local)
    page.goto(f"{demo.url}/docs")
    expect(page.get_by_role("heading", name=re.compile("^pager"))).to_be_visible()
    expect(page.get_by_text("/api/v1/alerts/{alert_id}/ack").first).to_be_visible()
    assert [url for url in asked if not url.startswith(demo.url)] == []


def test_the_accessibility_check_fails_on_a_serious_violation(page: Page, tmp_path: Path) -> None:
    page.set_content("<!doctype html><html lang='en'><title>t</title><main><input id='x'></main></html>")
    with pytest.raises(AssertionError, match="label"):
        check_accessibility(page, "unlabelled", tmp_path)
