"""What the services need at run time: the database, the loaded config, the notifiers, the settings."""

from __future__ import annotations

import gc
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from pager.adapters.console import ConsoleNotifier
from pager.adapters.delivery import Method, Notifier
from pager.adapters.on_demand import OnDemandNotifier
from pager.adapters.smtp_email import SmtpEmailNotifier, parse_smtp_url
from pager.config.errors import ConfigInvalid
from pager.config.loader import LoadedConfig, load_config
from pager.db.session import create_db_engine
from pager.services.calendars.feed_cache import FeedCache
from pager.services.operations.wakeup import Waker
from pager.services.status_page.publishing import StatusPageCache
from pager.settings import Settings, get_settings

if TYPE_CHECKING:
    from twilio.rest import Client

log = logging.getLogger("pager.runtime")


@dataclass
class Runtime:
    """Long-lived dependencies of one process; `config` is replaced whole on a good reload."""

    engine: Engine
    settings: Settings
    config: LoadedConfig
    notifiers: dict[Method, Notifier]
    waker: Waker = field(default_factory=Waker)
    # Rendered calendar feeds; emptied by the first feed request after a config reload.
    feed_cache: FeedCache = field(default_factory=FeedCache)
    # `pager demo`: console-only notifiers, and the console's phone panel (/demo/phone) is served.
    demo: bool = False

    # The public status page's one rendering, a few seconds old at most (docs/status-page.md).
    status_page: StatusPageCache = field(default_factory=StatusPageCache)

    @property
    def config_dir(self) -> Path:
        return self.settings.config_dir

    def reload_config(self) -> bool:
        """Load the config again; keep the last good one (and log why) when the new one has problems."""
        fresh = load_config(self.config_dir)
        if fresh.errors:
            for error in fresh.errors:
                log.error("config_rejected %s", error)
            return False
        self.config = fresh
        log.info("config_reloaded schedules=%d policies=%d", len(fresh.schedules), len(fresh.policies))
        return True


def build_notifiers(settings: Settings) -> dict[Method, Notifier]:
    """Twilio for sms/voice and SMTP for email when configured; the console for whatever is not.

    The Twilio notifiers (and the SDK, requests and their connection pool) are built on the first
    page they send: a process that never sends (`pager serve --no-worker`) never imports them."""
    notifiers: dict[Method, Notifier] = {m: ConsoleNotifier(m) for m in ("sms", "voice", "email")}
    sid, token, from_number = (
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.twilio_from_number,
    )
    if sid and token and from_number:
        public = settings.public_url.rstrip("/")
        api_base = settings.twilio_api_base
        built: list[Client] = []
        lock = threading.Lock()

        def client() -> Client:  # one client (one connection pool) for both notifiers
            from pager.adapters.twilio_client import make_client

            with lock:
                if not built:
                    built.append(make_client(sid, token, api_base))
                return built[0]

        def sms() -> Notifier:
            from pager.adapters.twilio_sms import TwilioSmsNotifier

            return TwilioSmsNotifier(client(), from_number, f"{public}/twilio/status")

        def voice() -> Notifier:
            from pager.adapters.twilio_voice import TwilioVoiceNotifier

            return TwilioVoiceNotifier(client(), from_number, public)

        notifiers["sms"] = OnDemandNotifier("sms", sms)
        notifiers["voice"] = OnDemandNotifier("voice", voice)
    if settings.smtp_url:
        notifiers["email"] = SmtpEmailNotifier(parse_smtp_url(settings.smtp_url), settings.email_from)
    return notifiers


def build_runtime(settings: Settings | None = None) -> Runtime:
    """A runtime from the environment; raises ConfigInvalid when the config directory has problems."""
    settings = settings or get_settings()
    config = load_config(settings.config_dir)
    if config.errors:
        raise ConfigInvalid(config.errors)
    engine = create_db_engine(settings.database_url)
    return Runtime(engine=engine, settings=settings, config=config, notifiers=build_notifiers(settings))


def freeze_startup_heap() -> None:
    """For a long-running process, once started: collect, then put what is left (modules, config,
    app) in the collector's permanent generation. Full collections then walk only what came after,
    instead of stopping every thread for tens of milliseconds to re-check the start-up heap."""
    gc.collect()
    gc.freeze()
