"""Notifiers built on first use (pager/adapters/on_demand.py) and the Twilio ones the runtime makes
that way: a process that never pages never imports the SDK; one that does pages as before."""

from __future__ import annotations

import threading
from pathlib import Path

from pager.adapters.console import ConsoleNotifier
from pager.adapters.delivery import DeliveryOutcome, Notifier, Page
from pager.adapters.on_demand import OnDemandNotifier
from pager.services.runtime import build_notifiers
from pager.settings import Settings
from pager.testing.fake_twilio import FakeTwilio
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
