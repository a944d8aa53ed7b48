"""schemathesis against a running `pager serve`'s /openapi.json: no 5xx, no response the schema forbids.

Every operation gets a bounded number of generated requests (fixed seed, so a failure reproduces),
sent with an admin token, once with free path parameters and once, where they name things, pinned to
things that exist (so 2xx answers are checked too). Checks: no server error, the response matches the
documented schema, its status code is one the operation documents. Requests the schema forbids
(negative generation) must be refused without a server error. The Twilio webhooks stay in: without
Twilio's signature every post must be the documented 403. Failures are collected per operation and
reported together.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy
from schemathesis import CheckFunction, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.e2e.server_process import PRIMARY, SERVICE, Server, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.database]

SEED = 20261123
EXAMPLES_PER_OPERATION = 15  # valid requests, all checks
BROKEN_EXAMPLES_PER_OPERATION = 8  # requests the schema forbids: they must be refused, never a 5xx
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]


@pytest.fixture
def server(e2e_database_url: str, tmp_path: Path) -> Iterator[Server]:
    with running_server(e2e_database_url, tmp_path) as running:
        yield running


def known_resources(server: Server) -> dict[str, str | int]:
    """Path parameter -> a value naming something that exists, so generated requests also get 2xx answers."""
    response = server.api(
        "POST",
        "/v2/enqueue",
        json={
            "routing_key": server.integration_key,
            "event_action": "trigger",
            "dedup_key": "schemathesis",
            "payload": {"summary": "Disk full", "source": "db-1", "severity": "critical"},
        },
    )
    assert response.status_code == 202, response.text
    return {
        "alert_id": server.only_alert_id(),
        "handle": PRIMARY["handle"],
        "schedule_id": "team",
        "service_id": SERVICE,
        "policy_id": "checkout",
        "key": server.integration_key,
    }


def runs_last(operation: schemathesis.APIOperation) -> bool:
    """Revoking tokens by generated id would sooner or later revoke the test's own admin token."""
    return operation.method.upper() == "DELETE" and operation.path.startswith("/api/v1/tokens/")


def exercise(
    strategy: SearchStrategy[schemathesis.Case],
    server: Server,
    examples: int = EXAMPLES_PER_OPERATION,
    checks: list[CheckFunction] = CHECKS,
) -> None:
    """Send `examples` generated requests; the first failing check raises."""
    headers = {"Authorization": f"Bearer {server.token}"}

    @seed(SEED)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: every step is an HTTP round trip
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=server.url, headers=headers, checks=checks)

    run()


def describe(failure: BaseException, limit: int = 4000) -> str:
    """Each failure schemathesis found (it raises them as a group), with the request that reproduces it."""
    parts = failure.exceptions if isinstance(failure, BaseExceptionGroup) else (failure,)
    notes = getattr(failure, "__notes__", [])  # hypothesis and schemathesis put the reproduction here
    text = "\n".join([*(f"{type(part).__name__}: {part}" for part in parts), *notes])
    return text if len(text) <= limit else text[:limit] + " ..."


def test_running_app_conforms_to_its_openapi_schema(server: Server) -> None:
    known = known_resources(server)
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=runs_last)
    failures: list[str] = []
    for operation in operations:
        names = re.findall(r"{(\w+)}", operation.path)
        strategies = {"generated": operation.as_strategy()}
        if names and all(name in known for name in names):
            pinned = {name: known[name] for name in names}
            strategies[f"with {pinned}"] = operation.as_strategy(path_parameters=pinned)
        for variant, strategy in strategies.items():
            try:
                exercise(strategy, server)
            except (Exception, BaseExceptionGroup) as failure:  # collected: one report for all operations
                failures.append(f"{operation.label} ({variant}):\n{describe(failure)}")
        try:
            broken = operation.as_strategy(GenerationMode.NEGATIVE)
            exercise(broken, server, BROKEN_EXAMPLES_PER_OPERATION, [not_a_server_error])
        except Unsatisfiable:
            pass  # nothing in this operation's input can be made invalid (no parameters, free-form form body)
        except (Exception, BaseExceptionGroup) as failure:
            failures.append(f"{operation.label} (invalid input):\n{describe(failure)}")
    assert len(operations) > 30, [op.label for op in operations]  # the whole API, not a partial schema
    assert not failures, "\n\n".join(failures)
