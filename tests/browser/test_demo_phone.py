"""The demo's phone panel in a real browser against a real `pager demo`: the printed curl's event pages
someone, their SMS shows on /demo/phone, and replying as it says acknowledges the alert."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Demo, check_accessibility
from tests.e2e.conftest import wait_until

pytestmark = pytest.mark.browser


def printed_event(demo: Demo) -> dict[str, object]:
    """The JSON body of the curl the demo printed."""
    line = next(line for line in demo.log().splitlines() if "/v2/enqueue" in line and "curl" in line)
    words = shlex.split(line)
    event: dict[str, object] = json.loads(words[words.index("-d") + 1])
    return event


def test_replying_on_the_phone_panel_acknowledges_the_alert(
    demo: Demo, page: Page, screenshot_dir: Path
) -> None:
    assert re.search(r"^status page: \S+/status$", demo.log(), re.M)
    answer = httpx.post(f"{demo.url}/v2/enqueue", json=printed_event(demo), timeout=10)
    assert answer.status_code == 202, answer.text
    alerts = demo.api("GET", "/api/v1/alerts").json()["items"]
    alert_id = next(item["id"] for item in alerts if item["dedup_key"] == answer.json()["dedup_key"])
    sms = wait_until(
        "the SMS page of the alert",
        lambda: re.search(rf"page method=sms to=(\S+) alert={alert_id} ", demo.log()),
        timeout=30,
    )

    page.goto(demo.login_link)
    page.get_by_role("link", name="Demo phone").click()
    expect(page).to_have_url(f"{demo.url}/demo/phone")
    text = f"Reply {alert_id}a ack"
    message = page.get_by_role("article").filter(has_text=text).first
    expect(message).to_be_visible()
    expect(message).to_contain_text("Checkout error rate above 5%")
    check_accessibility(page, "phone", screenshot_dir)
    assert sms.group(1)  # the number the page went to is the one the panel replies from

    message.get_by_role("textbox").fill(f"{alert_id}a")
    message.get_by_role("button", name="Send reply").click()
    expect(page.get_by_role("status")).to_contain_text(f"Alert {alert_id} acknowledged")

    page.goto(f"{demo.url}/alerts/{alert_id}")
    expect(page.locator("#alert-status")).to_have_text("acknowledged")
