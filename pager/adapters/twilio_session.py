"""The HTTP session under the twilio SDK: requests' own, with the environment read once per host.

requests honours HTTP(S)_PROXY, NO_PROXY and REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE by reading
`os.environ` on every request, twice (once when the SDK merges the environment's settings, once when
the request is sent): about a sixth of the CPU of each send through the SDK, in the worker.
This session reads them the first time it talks to a host, exactly as requests would, and keeps the
answer for the life of the process: a changed variable takes a restart, as every other setting does
(docs/phone-and-email.md, "An outbound proxy").

Imported by `pager.adapters.twilio_client.make_client` only: the API process never loads requests.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.utils import get_environ_proxies

_CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")  # requests' own order
_Host = tuple[str, str | None, int | None, str | None]  # scheme, host, port, the caller's no_proxy
_Environment = tuple[dict[str, str], str | None]  # proxies, CA bundle


class EnvironmentOnceSession(requests.Session):
    """A requests session whose proxies and CA bundle come from the environment, read once per
    (scheme, host, port) with requests' own rules (`trust_env`), then merged as requests merges them."""

    def __init__(self) -> None:
        super().__init__()
        # Off so requests does not read the environment again per request: this class has read it.
        # (The other thing trust_env does, a .netrc login, never applies: the SDK always sends auth.)
        self.trust_env = False
        self._found: dict[_Host, _Environment] = {}
        self._lock = threading.Lock()

    def merge_environment_settings(
        self,
        url: str,
        proxies: dict[str, str] | None,
        stream: bool | None,
        verify: Any,
        cert: Any,
    ) -> dict[str, Any]:
        """requests' merge with `trust_env` on, the environment's part read once per host."""
        merged = dict(proxies or {})
        # Without a dict, requests adds the environment's proxies when it sends (trust_env): here, now.
        environ_proxies, ca_bundle = self.environment_for(url, merged.get("no_proxy"))
        for scheme, proxy in environ_proxies.items():
            merged.setdefault(scheme, proxy)
        if (verify is True or verify is None) and ca_bundle:
            verify = ca_bundle
        return super().merge_environment_settings(url, merged, stream, verify, cert)

    def environment_for(self, url: str, no_proxy: str | None = None) -> tuple[Mapping[str, str], str | None]:
        """The environment's proxies for `url` (none where NO_PROXY exempts its host) and CA bundle,
        as requests reads them, read the first time this host is asked for."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname, parts.port, no_proxy)
        with self._lock:
            found = self._found.get(key)
            if found is None:
                bundle = next((os.environ[n] for n in _CA_BUNDLE_VARIABLES if os.environ.get(n)), None)
                found = self._found[key] = (dict(get_environ_proxies(url, no_proxy=no_proxy)), bundle)
        return found
