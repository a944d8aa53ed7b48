"""Notifiers built on first use (pager/adapters/on_demand.py) and the Twilio ones the runtime makes
that way: a process that never pages never imports the SDK; one that does pages as before; a worker
builds them when it starts."""

from __future__ import annotations

import threading
from pathlib import Path

from pager.adapters.console import ConsoleNotifier
from pager.adapters.delivery import DeliveryOutcome, Notifier, Page
from pager.adapters.on_demand import OnDemandNotifier
from pager.db.migrate import upgrade_schema
from pager.services.runtime import build_notifiers, build_runtime
from pager.settings import Settings
from pager.testing.fake_twilio import FakeTwilio
from pager.worker import Worker
from tests.e2e.conftest import wait_until
from tests.services.test_engine import write_config
from tests.support import TEST_SECRET_KEY

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"
FROM = "+15005550006"
PAGE = Page(
    idempotency_key="7:c1:l1:v1:alice:sms:0",
    alert_id=7,
    method="sms",
    address="+13125550101",
    body="ALERT 7 x",
)


def test_the_notifier_is_built_on_the_first_send_once_whatever_the_threads() -> None:
    builds = []

    def build() -> Notifier:
        builds.append(threading.get_ident())
        return ConsoleNotifier("sms")

    notifier = OnDemandNotifier("sms", build)
    assert not notifier.built and builds == []
    threads = [threading.Thread(target=notifier.send, args=(PAGE,)) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert notifier.built and len(builds) == 1


def test_the_runtime_s_twilio_notifiers_page_through_the_sdk_once_asked(tmp_path: Path) -> None:
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'pager.db'}",
            config_dir=tmp_path,
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            twilio_from_number=FROM,
            twilio_api_base=fake.base_url,
            public_url="https://pager.example.org",
            secret_key=TEST_SECRET_KEY,
        )
        notifiers = build_notifiers(settings)
        sms, voice = notifiers["sms"], notifiers["voice"]
        assert isinstance(sms, OnDemandNotifier) and isinstance(voice, OnDemandNotifier)
        assert not sms.built and fake.messages == []
        result = sms.send(PAGE)
        assert result.outcome is DeliveryOutcome.SENT, result
        assert [m["body"] for m in fake.messages] == ["ALERT 7 x"]
        assert not voice.built  # each is built by its own first use


def test_a_worker_builds_them_when_it_starts_not_at_its_first_page(tmp_path: Path) -> None:
    # The SDK's import takes half a second or more (seconds on a busy machine): paid at the first
    # page, it made the first page after a restart late (tests/e2e/test_worker_e2e.py saw 2.1 s).
    url = f"sqlite:///{tmp_path / 'pager.db'}"
    upgrade_schema(url)
    settings = Settings(
        database_url=url,
        config_dir=write_config(tmp_path / "config"),
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from_number=FROM,
        public_url="https://pager.example.org",
        secret_key=TEST_SECRET_KEY,
    )
    runtime = build_runtime(settings)
    sms, voice = runtime.notifiers["sms"], runtime.notifiers["voice"]
    assert isinstance(sms, OnDemandNotifier) and isinstance(voice, OnDemandNotifier)
    assert not sms.built and not voice.built
    worker = Worker(runtime)
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        wait_until("the worker to build its notifiers", lambda: sms.built and voice.built, timeout=30)
    finally:
        worker.stop()
        thread.join(timeout=30)
        runtime.engine.dispose()
    assert not thread.is_alive()
