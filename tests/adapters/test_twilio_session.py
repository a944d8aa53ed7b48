"""The twilio SDK's HTTP session reads the proxy and CA-bundle variables once per host, with requests'
own rules: checked against a plain requests session (the oracle) in every environment below, and
through the real SDK against the fake Twilio."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from requests.exceptions import ProxyError
from requests.utils import resolve_proxies, select_proxy

import pager.adapters.twilio_session as twilio_session
from pager.adapters.twilio_client import make_client
from pager.adapters.twilio_session import EnvironmentOnceSession
from pager.testing.fake_twilio import FakeTwilio

ACCOUNT_SID = "AC00000000000000000000000000000000"
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"
VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)
URLS = (
    "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages.json",
    "https://api.dublin.ie1.twilio.com/2010-04-01/Accounts/AC0/Calls.json",
    "http://127.0.0.1:8081/2010-04-01/Accounts/AC0/Messages.json",
)
ENVIRONMENTS: list[dict[str, str]] = [
    {},
    {"HTTPS_PROXY": "http://proxy.internal:3128"},
    {"https_proxy": "http://lower.internal:3128", "HTTP_PROXY": "http://plain.internal:80"},
    {"ALL_PROXY": "socks5://socks.internal:1080"},
    {"HTTPS_PROXY": "http://proxy.internal:3128", "NO_PROXY": "api.twilio.com"},
    {"HTTPS_PROXY": "http://proxy.internal:3128", "no_proxy": ".twilio.com,localhost"},
    {"HTTP_PROXY": "http://proxy.internal:3128", "NO_PROXY": "127.0.0.1:8081"},
    {"HTTP_PROXY": "http://proxy.internal:3128", "NO_PROXY": "*"},
    {"REQUESTS_CA_BUNDLE": "/etc/corp/ca.pem"},
    {"CURL_CA_BUNDLE": "/etc/curl/ca.pem"},
    {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": "/etc/curl/ca.pem", "HTTPS_PROXY": "http://p:1"},
]


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No proxy or CA variable set, whatever the machine running the tests has."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch


@pytest.mark.parametrize("variables", ENVIRONMENTS, ids=lambda v: ",".join(v) or "none")
def test_settings_and_proxies_match_requests_own(
    environment: pytest.MonkeyPatch, variables: dict[str, str]
) -> None:
    for name, value in variables.items():
        environment.setenv(name, value)
    ours, oracle = EnvironmentOnceSession(), requests.Session()
    for url in URLS:
        for given in ({}, {"https": "http://given.internal:1"}, None):
            for verify in (None, True, False, "/given/ca.pem"):
                args = (url, None if given is None else dict(given), None, verify, None)
                expected = oracle.merge_environment_settings(*args)
                found = ours.merge_environment_settings(*args)
                assert {k: found[k] for k in ("stream", "verify", "cert")} == {
                    k: expected[k] for k in ("stream", "verify", "cert")
                }, (url, given, verify)
                if given is not None:  # requests adds the environment's proxies to a dict given
                    assert found["proxies"] == expected["proxies"], (url, given, verify)
                # The proxy `send` goes through: requests resolves the proxies again when trust_env
                # is on, and its adapter picks one for the URL.
                request = requests.Request("POST", url).prepare()
                routed = select_proxy(url, resolve_proxies(request, found["proxies"], ours.trust_env))
                oracle_routed = resolve_proxies(request, expected["proxies"], oracle.trust_env)
                assert routed == select_proxy(url, oracle_routed), (url, given, verify)


def test_the_environment_is_read_once_per_host(
    environment: pytest.MonkeyPatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    real = twilio_session.get_environ_proxies

    def counted(url: str, no_proxy: str | None = None) -> dict[str, str]:
        reads.append(url)
        return real(url, no_proxy=no_proxy)

    monkeypatch.setattr(twilio_session, "get_environ_proxies", counted)
    environment.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    session = EnvironmentOnceSession()
    for n in range(50):
        session.merge_environment_settings(f"https://api.twilio.com/Messages/{n}.json", {}, None, None, None)
    assert len(reads) == 1
    environment.setenv("HTTPS_PROXY", "http://another.internal:3128")  # kept from the first read
    settings = session.merge_environment_settings("https://api.twilio.com/x", {}, None, None, None)
    assert settings["proxies"] == {"https": "http://proxy.internal:3128"}
    session.merge_environment_settings("https://api.dublin.ie1.twilio.com/x", {}, None, None, None)
    assert len(reads) == 2  # another host: read for it


def test_the_sdk_sends_through_the_proxy_the_environment_names(environment: pytest.MonkeyPatch) -> None:
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake:
        # A proxy nobody listens on: a send that honours it fails as a proxy error.
        environment.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        client = make_client(ACCOUNT_SID, AUTH_TOKEN, api_base=fake.base_url, timeout=5.0)
        assert isinstance(client.http_client.session, EnvironmentOnceSession)  # type: ignore[attr-defined]
        with pytest.raises(ProxyError):
            client.messages.create(to="+13125550101", from_="+15005550006", body="through the proxy")
        # NO_PROXY exempting the fake's host: straight to it.
        environment.setenv("NO_PROXY", "127.0.0.1")
        client = make_client(ACCOUNT_SID, AUTH_TOKEN, api_base=fake.base_url, timeout=5.0)
        message = client.messages.create(to="+13125550101", from_="+15005550006", body="straight")
        assert message.sid is not None
        assert [r.form["Body"] for r in fake.requests if r.method == "POST"] == ["straight"]
