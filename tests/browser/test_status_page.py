"""The public status page in a real browser against a real `pager demo` (docs/status-page.md): an
incident declared and updated through the REST API shows its public update on /status and in the
Atom feed, never its internal one nor anything of the demo's drill; no login; axe finds no serious
or critical violation. The screenshot is docs/images/status.png when PAGER_SCREENSHOT_DIR=docs/images.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from pager.services.incidents.demo_history import DRILL_TITLE, OUTAGE_TITLE
from tests.browser.conftest import Demo, check_accessibility
from tests.e2e.conftest import wait_until

pytestmark = pytest.mark.browser

ATOM = "{http://www.w3.org/2005/Atom}"
PUBLIC = "Some card payments fail at checkout. We are investigating and will update within 30 minutes."
INTERNAL = "Internal: the 14:02 deploy of payments-gw looks guilty; erin is rolling it back"
TITLE = "Browser test: card payments failing behind the gateway"


def test_the_status_page_shows_the_public_update_only(demo: Demo, page: Page, screenshot_dir: Path) -> None:
    declared = demo.api(
        "POST",
        "/api/v1/incidents",
        json={
            "title": TITLE,
            "severity": "SEV1",
            "services": ["checkout-api"],
            "customer_impact": True,
        },
    )
    assert declared.status_code == 201, declared.text
    incident_id = declared.json()["id"]
    for text, public in ((PUBLIC, True), (INTERNAL, False)):
        body = {"text": text, "public": public}
        posted = demo.api("POST", f"/api/v1/incidents/{incident_id}/updates", json=body)
        assert posted.status_code == 201, posted.text

    # The page is a few seconds old at most: wait for the rendering that has the update.
    wait_until("the update on /status", lambda: PUBLIC in httpx.get(f"{demo.url}/status").text, timeout=30)
    page.goto(f"{demo.url}/status")
    expect(page).to_have_url(f"{demo.url}/status")  # no login asked for
    expect(page.get_by_role("heading", name="Service status", level=1)).to_be_visible()
    expect(page.get_by_text(PUBLIC)).to_be_visible()
    expect(page.locator(".overall")).to_have_text("Partial outage")
    checkout = page.locator("ul.components li").filter(has_text="Checkout API")
    expect(checkout.locator(".state")).to_have_text("Partial outage")
    # The demo's past SEV0 is in the history, by its public updates.
    past_update = "Checkout works again in every region; we are watching error rates."
    expect(page.get_by_text(past_update)).to_be_visible()
    shown = page.content()
    drill_note = "Failover to the standby region"
    for secret in (INTERNAL, TITLE, OUTAGE_TITLE, DRILL_TITLE, drill_note, "SEV1", "alice"):
        assert secret not in shown, f"{secret!r} is on the public page"
    check_accessibility(page, "status", screenshot_dir)

    feed = httpx.get(f"{demo.url}/status/feed.atom", timeout=10)
    assert feed.status_code == 200
    assert feed.headers["content-type"] == "application/atom+xml; charset=utf-8"
    contents = [e.findtext(f"{ATOM}content") for e in ET.fromstring(feed.content).findall(f"{ATOM}entry")]
    assert contents[0] == PUBLIC  # the newest entry
    assert INTERNAL not in feed.text and TITLE not in feed.text


def test_the_status_page_on_a_phone_sized_screen(demo: Demo, page: Page, screenshot_dir: Path) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{demo.url}/status")
    expect(page.get_by_role("heading", name="Components")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways ({width}px)"
    check_accessibility(page, "status-phone", screenshot_dir)
