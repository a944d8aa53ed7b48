"""The console's incident pages in a real browser against a real `pager demo`: declaring through the
form, a public status update seen on the incident's page, through the API, on the public status page
and in its Atom feed, accessibility (axe),
a phone-sized screen and the keyboard."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Demo, check_accessibility, log_in_with_token
from tests.e2e.conftest import wait_until

pytestmark = pytest.mark.browser


def test_an_incident_declared_through_the_form_takes_a_public_update(
    demo: Demo, page: Page, screenshot_dir: Path
) -> None:
    log_in_with_token(page, demo.url, demo.admin_token)
    page.get_by_role("link", name="Incidents", exact=True).click()
    expect(page).to_have_url(f"{demo.url}/incidents")
    # The demo's history: a resolved SEV0 and a drill, marked.
    expect(page.get_by_role("link", name="Checkout API failing for all customers")).to_be_visible()
    drill = page.get_by_role("row").filter(has_text="Game day: payments gateway fails over")
    expect(drill).to_contain_text("[DRILL]")

    page.get_by_label("Title").fill("Browser test: checkout latency above 2s")
    page.locator("#declare-severity").select_option("SEV1")
    page.get_by_label("Services (optional, comma-separated ids)").fill("checkout-api")
    page.get_by_label("Customers are affected (status updates fall due)").check()
    page.get_by_role("button", name="Declare incident").click()
    expect(page).to_have_url(re.compile(r"/incidents/\d+$"))
    incident = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile(r"^Incident \d+: Browser test: checkout latency above 2s$")
    )
    expect(page.locator("#incident-status")).to_have_text("investigating")

    page.get_by_label("Person (handle)").fill("alice")
    page.get_by_role("button", name="Assign role").click()
    expect(page.locator("#roles")).to_contain_text("alice")

    text = "Checkout is slow for some customers; we are rolling back the 14:02 deploy."
    page.get_by_label("Update", exact=True).fill(text)
    page.get_by_label("Public (shown to customers)").check()
    page.get_by_label("Move to status").select_option("identified")
    page.get_by_role("button", name="Post update").click()
    expect(page).to_have_url(f"{demo.url}/incidents/{incident}")
    posted = page.locator("#updates li").filter(has_text=text)
    expect(posted).to_have_count(1)
    expect(posted.locator(".audience")).to_have_text("public")
    expect(page.locator("#incident-status")).to_have_text("identified")
    internal = "Rollback running in eu-west; us-east next."
    page.get_by_label("Update", exact=True).fill(internal)
    page.get_by_role("button", name="Post update").click()
    expect(page.locator("#updates li").first).to_contain_text(internal)  # newest first
    expect(page.locator("#updates li").first.locator(".audience")).to_have_text("internal")
    check_accessibility(page, "incident", screenshot_dir)

    updates = demo.api("GET", f"/api/v1/incidents/{incident}/updates").json()["items"]
    assert [(u["text"], u["public"], u["author"]) for u in updates] == [
        (text, True, "console:demo"),
        (internal, False, "console:demo"),
    ]

    page.get_by_role("link", name="Incidents", exact=True).click()
    expect(page.get_by_role("link", name="Browser test: checkout latency above 2s")).to_be_visible()
    check_accessibility(page, "incidents", screenshot_dir)

    # The public update, and only it, reaches the public status page and its Atom feed (a few
    # seconds late at most: the page is cached for 5 s).
    wait_until("the update on /status", lambda: text in httpx.get(f"{demo.url}/status").text, timeout=30)
    page.goto(f"{demo.url}/status")
    expect(page.get_by_text(text)).to_be_visible()
    assert internal not in page.content()
    feed = httpx.get(f"{demo.url}/status/feed.atom", timeout=10)
    entries = ET.fromstring(feed.content).findall("{http://www.w3.org/2005/Atom}entry")
    assert text in [entry.findtext("{http://www.w3.org/2005/Atom}content") for entry in entries]
    assert internal not in feed.text


def test_the_demo_history_and_a_refused_role(demo: Demo, page: Page, screenshot_dir: Path) -> None:
    log_in_with_token(page, demo.url, demo.admin_token)
    page.goto(f"{demo.url}/incidents")
    page.get_by_role("link", name="Checkout API failing for all customers").click()
    expect(page.locator("#incident-status")).to_have_text("closed")
    expect(page.locator("#postmortem")).to_contain_text("published")
    expect(page.locator("#action-items")).to_contain_text("(overdue)")
    expect(page.locator("#role-history")).to_contain_text("owns the gateway config")
    expect(page.get_by_role("button", name="Assign role")).to_have_count(0)  # closed: it does not change
    check_accessibility(page, "incident-history", screenshot_dir)

    page.goto(f"{demo.url}/incidents")
    page.get_by_role("link", name="Game day: payments gateway fails over").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("[DRILL]")
    timeline = page.locator("#timeline li").count()
    page.get_by_label("Person (handle)").fill("nobody-here")
    page.get_by_role("button", name="Assign role").click()
    expect(page.get_by_role("alert")).to_contain_text("no user 'nobody-here'")
    expect(page.get_by_label("Person (handle)")).to_have_value("nobody-here")
    assert page.locator("#timeline li").count() == timeline


def test_the_incident_pages_on_a_phone_and_with_the_keyboard(
    demo: Demo, browser: Browser, screenshot_dir: Path
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()
    try:
        log_in_with_token(phone, demo.url, demo.admin_token)
        phone.goto(f"{demo.url}/incidents")
        phone.get_by_role("link", name="Checkout API failing for all customers").click()
        incident_path = phone.url.removeprefix(demo.url)
        for path in ("/incidents", incident_path):
            phone.goto(f"{demo.url}{path}")
            overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} is {overflow}px wider than a phone"

        # Declare with the keyboard alone: focus the title, type, tab through the fields, Enter.
        phone.goto(f"{demo.url}/incidents")
        phone.get_by_label("Title").focus()
        phone.keyboard.type("Keyboard test: search down")
        phone.keyboard.press("Tab")  # severity (SEV0 first)
        phone.keyboard.press("Tab")  # services
        phone.keyboard.press("Tab")  # customers affected
        phone.keyboard.press("Space")
        phone.keyboard.press("Tab")  # drill
        phone.keyboard.press("Tab")  # the button
        phone.keyboard.press("Enter")
        expect(phone).to_have_url(re.compile(r"/incidents/\d+$"))
        expect(phone.locator("#incident-impact")).to_have_text("yes: customers are affected")
        expect(phone.locator("#incident-severity")).to_have_text("SEV0")
        check_accessibility(phone, "incident-phone", screenshot_dir)
    finally:
        context.close()
