"""A real `pager demo` process and Debian's chromium driven by Playwright, for the console's tests.

The demo runs as `make run` starts it (shipped schedules and policies, a fresh SQLite file, a free
port); what it prints (the one-click login link, the admin token, the integration keys) is read
from its output, as a person would read it. Each test gets a fresh browser context (no cookies).
Screenshots go to the session's temporary folder, or to PAGER_SCREENSHOT_DIR when set (how
docs/images/ is refreshed).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.conftest import clean_environment, pager_command, stop_process, wait_until
from tests.e2e.server_process import free_port, run_cli

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "browser-test-secret-key-" + "b" * 16
SERIOUS = {"serious", "critical"}

pytestmark = pytest.mark.browser


@dataclass
class Demo:
    """A running `pager demo`: its URL, what it printed, and the environment to run the CLI against it."""

    url: str
    login_link: str
    admin_token: str
    keys: dict[str, str]
    env: dict[str, str]
    cwd: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def printed_curl(self) -> str:
        """The curl command line the demo printed to fire a test alert."""
        lines = self.log().splitlines()
        return next(line.strip() for line in lines if "curl" in line and "/v2/enqueue" in line)

    def run_printed_curl(self) -> str:
        """Run the printed curl as a shell would; the dedup key pager answered with."""
        done = subprocess.run(
            ["bash", "-c", self.printed_curl()], capture_output=True, text=True, timeout=30, check=True
        )
        key: str = json.loads(done.stdout)["dedup_key"]
        return key

    def cli(self, *args: str) -> str:
        return run_cli(self.env, self.cwd, *args)

    def api(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]

    def trigger(self, service: str, dedup_key: str, summary: str) -> httpx.Response:
        """A PagerDuty Events v2 trigger on the demo's events endpoint."""
        event = {
            "routing_key": self.keys[service],
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": {"summary": summary, "source": "browser-test", "severity": "critical"},
        }
        return httpx.post(f"{self.url}/v2/enqueue", json=event, timeout=10)


def _printed(pattern: str, text: str) -> str:
    found = re.search(pattern, text, re.M)
    assert found is not None, f"the demo did not print {pattern!r}:\n{text}"
    return found.group(1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`pager demo` on a fresh SQLite database and a free port, stopped when the module's tests end."""
    root = tmp_path_factory.mktemp("demo")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_environment(
        PAGER_DATABASE_URL=f"sqlite:///{root / 'pager.db'}",
        PAGER_CONFIG_DIR=str(ROOT),
        PAGER_SECRET_KEY=SECRET_KEY,
        PAGER_PUBLIC_URL=url,
    )
    log_path = root / "demo.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            pager_command("demo", "--port", str(port)),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=root,
        )

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"pager demo exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until("pager demo to serve", ready, timeout=30)
        text = log_path.read_text()
        keys = dict(re.findall(r"^  ([a-z][a-z0-9-]+)\s+([0-9a-f]{32})$", text, re.M))
        yield Demo(
            url=url,
            login_link=_printed(r"log in with one click .*?: (\S+)$", text),
            admin_token=_printed(r"^admin API token \(.*?\): (\S+)$", text),
            keys=keys,
            env=env,
            cwd=root,
            log_path=log_path,
        )
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        stop_process(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium (Playwright's own browser download is not used). Module-scoped: Playwright's
    sync API keeps an event loop running in this thread while it is open, and the tests after the
    browser tests call `asyncio.run`, which refuses to start inside a running loop."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install it with `apt-get install -y chromium`"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page, phone-sized viewport optional per test."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("PAGER_SCREENSHOT_DIR")
    return Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")


def check_accessibility(page: Page, name: str, screenshot_dir: Path) -> None:
    """Save a screenshot of the page, then fail on any serious or critical axe violation."""
    page.screenshot(path=str(screenshot_dir / f"{name}.png"), full_page=True)
    violations = Axe().run(page).response["violations"]
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
        if v.get("impact") in SERIOUS
    ]
    assert bad == [], f"{name}: " + "; ".join(bad)


def log_in_with_token(page: Page, url: str, token: str) -> None:
    """Log in through the token form of /login."""
    page.goto(f"{url}/login")
    page.get_by_label("API token", exact=True).fill(token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{url}/")
