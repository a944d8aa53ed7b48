"""/api/v1/policies and /api/v1/services: escalation policies (read) and services (read, rotate key)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from pager.api.deps import AdminDep, NowDep, RuntimeDep, ViewerDep
from pager.api.rest.pages import PageDep, slice_page
from pager.api.rest.schemas import LevelOut, NamePath, Paginated, PolicyOut, ServiceOut, error_responses
from pager.core.policy import EscalationPolicy
from pager.db.tables import Service
from pager.services.alerting.catalog import list_services, require_service, rotate_integration_key
from pager.services.errors import NotFound
from pager.services.people.tokens import Bearer
from pager.services.transactions import read_only, read_write

router = APIRouter(tags=["policies and services"])


@router.get("/policies", summary="List escalation policies", responses=error_responses(401, 422))
def list_policies(
    request: Request, response: Response, runtime: RuntimeDep, page: PageDep, _token: ViewerDep
) -> Paginated[PolicyOut]:
    """Every loaded policy (from escalation_policies/*.yaml) by id. Needs a viewer token."""
    policies = runtime.config.policies
    return slice_page(request, response, page, [policy_out(policies[pid]) for pid in sorted(policies)])


@router.get("/policies/{policy_id}", summary="One escalation policy", responses=error_responses(401, 404))
def show_policy(policy_id: NamePath, runtime: RuntimeDep, _token: ViewerDep) -> PolicyOut:
    """The policy with this id: its levels, repeat and timeouts. Needs a viewer token."""
    policy = runtime.config.policies.get(policy_id)
    if policy is None:
        raise NotFound(f"no policy {policy_id!r}")
    return policy_out(policy)


@router.get("/services", summary="List services", responses=error_responses(401, 422))
def list_all_services(
    request: Request, response: Response, runtime: RuntimeDep, page: PageDep, token: ViewerDep
) -> Paginated[ServiceOut]:
    """Every service by id; `integration_key` is shown to admin tokens only. Needs a viewer token."""
    rows = [service_out(row, token) for row in read_only(runtime.engine, list_services)]
    return slice_page(request, response, page, rows)


@router.get("/services/{service_id}", summary="One service", responses=error_responses(401, 404))
def show_service(service_id: NamePath, runtime: RuntimeDep, token: ViewerDep) -> ServiceOut:
    """The service; `integration_key` is shown to admin tokens only. Needs a viewer token."""
    return service_out(read_only(runtime.engine, lambda s: require_service(s, service_id)), token)


@router.post(
    "/services/{service_id}/rotate-key",
    summary="Rotate a service's integration key",
    responses=error_responses(401, 403, 404),
)
def rotate_key(service_id: NamePath, runtime: RuntimeDep, now: NowDep, token: AdminDep) -> ServiceOut:
    """Give the service a new integration key; the old one stops working at once. Needs an admin token."""
    row = read_write(runtime.engine, lambda s: rotate_integration_key(s, service_id, now))
    return service_out(row, token)


def policy_out(policy: EscalationPolicy) -> PolicyOut:
    """A policy as the API shows it; durations in whole seconds."""
    return PolicyOut(
        id=policy.id,
        name=policy.name,
        repeat=policy.repeat,
        ack_timeout_seconds=int(policy.ack_timeout.total_seconds()),
        auto_resolve_seconds=int(policy.auto_resolve.total_seconds()) if policy.auto_resolve else None,
        levels=[
            LevelOut(
                notify=[str(target) for target in level.targets],
                escalate_after_seconds=int(level.escalate_after.total_seconds()),
            )
            for level in policy.levels
        ],
        services=[service.id for service in policy.services],
    )


def service_out(row: Service, token: Bearer) -> ServiceOut:
    """A service as `token` may see it: the integration key is a credential, for admins only."""
    return ServiceOut(
        id=row.id,
        name=row.name,
        policy=row.policy_id,
        runbook=row.runbook,
        integration_key=row.integration_key if token.role == "admin" else None,
    )
