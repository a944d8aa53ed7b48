"""/api/v1/users: people, their contact methods and their notification rules."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlmodel import Session

from pager.api.deps import AdminDep, NowDep, RuntimeDep, ViewerDep
from pager.api.rest.pages import PageDep, slice_page
from pager.api.rest.schemas import (
    NamePath,
    Paginated,
    error_responses,
)
from pager.api.rest.user_schemas import (
    ContactMethodOut,
    NotificationRuleOut,
    UserIn,
    UserOut,
)
from pager.db.tables import ContactMethod, User
from pager.db.users import contact_methods_of, notification_rules_of
from pager.services.alerting.alerts import wake_worker
from pager.services.people.edits import status_of
from pager.services.people.reminders import remind_before_text
from pager.services.people.users import add_user, effective_rules, list_users, require_user
from pager.services.people.verification import send_pending_codes
from pager.services.transactions import read_only, read_write

router = APIRouter(prefix="/users", tags=["users"])


@router.get(
    "",
    summary="List users with their contact methods and notification rules",
    responses=error_responses(401, 422),
)
def list_all(
    request: Request, response: Response, runtime: RuntimeDep, page: PageDep, _token: ViewerDep
) -> Paginated[UserOut]:
    """Every user by handle. Needs a viewer token."""
    users = read_only(
        runtime.engine,
        lambda session: [user_out(session, user, methods) for user, methods in list_users(session)],
    )
    return slice_page(request, response, page, users)


@router.get(
    "/{handle}",
    summary="One user with contact methods and notification rules",
    responses=error_responses(401, 404),
)
def show(handle: NamePath, runtime: RuntimeDep, _token: ViewerDep) -> UserOut:
    """The user with this handle. Needs a viewer token."""

    def read(session: Session) -> UserOut:
        user = require_user(session, handle)
        return user_out(session, user, contact_methods_of(session, user.id or 0))

    return read_only(runtime.engine, read)


@router.post(
    "",
    status_code=201,
    summary="Add a user",
    responses=error_responses(401, 403, 409, 422),
)
def create(body: UserIn, runtime: RuntimeDep, now: NowDep, _token: AdminDep) -> UserOut:
    """Add a user with contact methods; they are paged by the default rules. Needs an admin token."""

    def write(session: Session) -> UserOut:
        user = add_user(
            session,
            handle=body.handle,
            name=body.name,
            now=now,
            sms=body.sms,
            voice=body.voice,
            email=body.email,
            verified=False,
        )
        send_pending_codes(session, runtime.settings, user, now)
        return user_out(session, user, contact_methods_of(session, user.id or 0))

    answer = read_write(runtime.engine, write)
    wake_worker(runtime)  # the codes sent to its methods
    return answer


def user_out(session: Session, user: User, methods: list[ContactMethod]) -> UserOut:
    """A user as the API shows them: rules are the effective ones (stored, else the defaults)."""
    stored = notification_rules_of(session, user.id or 0)
    return UserOut(
        handle=user.handle,
        name=user.name,
        time_zone=user.time_zone,
        remind_before=remind_before_text(user),
        created_at=user.created_at,
        contact_methods=[
            ContactMethodOut(id=m.id or 0, kind=m.kind, address=m.address, verified=m.verified)
            for m in methods
        ],
        notification_rules=[
            NotificationRuleOut(
                method=step.rule.method,
                delay_seconds=int(step.rule.delay.total_seconds()),
                address=step.address,
            )
            for step in effective_rules(session, user.id or 0)
        ],
        default_rules=not stored,
        status=status_of(user),
        deactivated_at=user.deactivated_at,
    )
