"""/api/v1/users/{handle}/...: a person's profile, contact methods, rules and test pages.

Reading needs a viewer token. Changing a person needs an admin token, or a responder token that
acts for that person (`pager token create --user HANDLE`); deactivating is for admins. See
docs/api.md, "Roles".
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlmodel import Session

from pager.api.deps import AdminDep, NowDep, ResponderDep, RuntimeDep, ViewerDep
from pager.api.rest.schemas import (
    IdPath,
    NamePath,
    error_responses,
)
from pager.api.rest.user_schemas import (
    ContactMethodAddedOut,
    ContactMethodIn,
    ContactMethodOut,
    QueuedNoticeOut,
    RuleIn,
    TestPageIn,
    UserOut,
    UserPatch,
    VerifyIn,
)
from pager.api.rest.users import user_out
from pager.db.tables import ContactMethod, User
from pager.services.alerting.alerts import wake_worker
from pager.services.errors import Forbidden
from pager.services.people import edits, reachability, rules, verification
from pager.services.people.tokens import Bearer
from pager.services.people.users import contact_methods, require_user
from pager.services.transactions import read_only, read_write

router = APIRouter(prefix="/users/{handle}", tags=["users"])

_EDIT_ERRORS = error_responses(401, 403, 404, 409, 422)
_READ_ERRORS = error_responses(401, 404, 422)


def editable(session: Session, bearer: Bearer, handle: str) -> User:
    """The user, when `bearer` may change them (admins anyone, a responder token its own person)."""
    user = require_user(session, handle)
    if not bearer.may_edit(user.id):
        raise Forbidden(f"a {bearer.role} token may change only the person it acts for, not {handle}")
    return user


def method_out(method: ContactMethod) -> ContactMethodOut:
    return ContactMethodOut(
        id=method.id or 0, kind=method.kind, address=method.address, verified=method.verified
    )


@router.patch("", summary="Change a user's name, contact methods or time zone", responses=_EDIT_ERRORS)
def patch(
    handle: NamePath, body: UserPatch, runtime: RuntimeDep, now: NowDep, bearer: ResponderDep
) -> UserOut:
    """Fields left out stay. A contact method set here starts unverified and gets a code or link;
    null (or "off") removes that kind. Admin, or the person's own responder token."""
    given = body.model_fields_set

    def value(name: str) -> str | None:
        if name not in given:
            return None
        found: str | None = getattr(body, name)
        return edits.REMOVE if found is None else found

    changes = edits.UserChanges(
        name=body.name if "name" in given else None,
        sms=value("sms"),
        voice=value("voice"),
        email=value("email"),
        time_zone=value("time_zone"),
        remind_before=value("remind_before"),
    )

    def write(session: Session) -> UserOut:
        editable(session, bearer, handle)
        user = edits.update_user(session, handle, changes, now=now, verified=False)
        verification.send_pending_codes(session, runtime.settings, user, now)
        return user_out(session, user, contact_methods(session, user))

    answer = read_write(runtime.engine, write)
    wake_worker(runtime)
    return answer


@router.post("/deactivate", summary="Deactivate a user", responses=error_responses(401, 403, 404, 422))
def deactivate(handle: NamePath, runtime: RuntimeDep, now: NowDep, _token: AdminDep) -> UserOut:
    """Never on call and never paged from now on; history stays. Needs an admin token."""
    return read_write(runtime.engine, lambda s: _set_active(s, handle, False, now))


@router.post("/reactivate", summary="Reactivate a user", responses=error_responses(401, 403, 404, 422))
def reactivate(handle: NamePath, runtime: RuntimeDep, now: NowDep, _token: AdminDep) -> UserOut:
    """Undo a deactivation. Needs an admin token."""
    return read_write(runtime.engine, lambda s: _set_active(s, handle, True, now))


def _set_active(session: Session, handle: str, active: bool, now: NowDep) -> UserOut:
    user, _ = edits.set_active(session, handle, active, now)
    return user_out(session, user, contact_methods(session, user))


# --- contact methods -----------------------------------------------------------------------------


@router.get("/contact-methods", summary="A user's contact methods", responses=_READ_ERRORS)
def list_methods(handle: NamePath, runtime: RuntimeDep, _token: ViewerDep) -> list[ContactMethodOut]:
    """In the order they were added, with whether each is verified. Needs a viewer token."""
    _, found = read_only(runtime.engine, lambda s: verification.list_methods(s, handle))
    return [method_out(method) for method in found]


@router.post(
    "/contact-methods",
    status_code=201,
    summary="Add a contact method",
    responses=_EDIT_ERRORS,
)
def add_method(
    handle: NamePath, body: ContactMethodIn, runtime: RuntimeDep, now: NowDep, bearer: ResponderDep
) -> ContactMethodAddedOut:
    """Starts unverified (never paged); a 6-digit code by SMS or voice, or a link by email, is sent."""

    def write(session: Session) -> ContactMethodAddedOut:
        editable(session, bearer, handle)
        keys = verification.secrets_of(runtime.settings)
        method, _ = verification.add_method(session, keys, handle, body.kind, body.address, now)
        return ContactMethodAddedOut(**method_out(method).model_dump(), code_sent=True)

    answer = read_write(runtime.engine, write)
    wake_worker(runtime)
    return answer


@router.post(
    "/contact-methods/{method_id}/send-code",
    summary="Send a new verification code",
    responses=_EDIT_ERRORS,
)
def send_code(
    handle: NamePath, method_id: IdPath, runtime: RuntimeDep, now: NowDep, bearer: ResponderDep
) -> ContactMethodAddedOut:
    """A new code (or link) for an unverified method; the old one stops working."""

    def write(session: Session) -> ContactMethodAddedOut:
        editable(session, bearer, handle)
        keys = verification.secrets_of(runtime.settings)
        verification.resend_code(session, keys, handle, method_id, now)
        _, found = verification.list_methods(session, handle)
        method = next(m for m in found if m.id == method_id)
        return ContactMethodAddedOut(**method_out(method).model_dump(), code_sent=True)

    answer = read_write(runtime.engine, write)
    wake_worker(runtime)
    return answer


@router.post("/contact-methods/{method_id}/verify", summary="Verify a contact method", responses=_EDIT_ERRORS)
def verify(
    handle: NamePath,
    method_id: IdPath,
    body: VerifyIn,
    runtime: RuntimeDep,
    now: NowDep,
    bearer: ResponderDep,
) -> ContactMethodOut:
    """Check the code sent to it (an email's code is its link's token). 5 wrong tries kill the code."""

    def write(session: Session) -> tuple[verification.VerifyOutcome, ContactMethod]:
        editable(session, bearer, handle)
        keys = verification.secrets_of(runtime.settings)
        outcome = verification.verify(session, keys, handle, method_id, body.code, now)
        _, found = verification.list_methods(session, handle)
        return outcome, next(m for m in found if m.id == method_id)

    outcome, method = read_write(runtime.engine, write)  # the try is counted even when it was wrong
    verification.refuse(outcome)
    return method_out(method)


@router.delete(
    "/contact-methods/{method_id}", status_code=204, summary="Remove a contact method", responses=_EDIT_ERRORS
)
def remove_method(handle: NamePath, method_id: IdPath, runtime: RuntimeDep, bearer: ResponderDep) -> Response:
    """The rules that use it go with it."""

    def write(session: Session) -> None:
        editable(session, bearer, handle)
        verification.remove_method(session, handle, method_id)

    read_write(runtime.engine, write)
    return Response(status_code=204)


# --- rules and test pages --------------------------------------------------------------------------


@router.get("/rules", summary="A user's notification rules", responses=_READ_ERRORS)
def get_rules(handle: NamePath, runtime: RuntimeDep, _token: ViewerDep) -> list[RuleIn]:
    """`[{"method": "sms", "after": "0m"}, ...]`: stored, else the defaults over verified methods."""
    found, _ = read_only(runtime.engine, lambda s: rules.rules_of(s, handle))
    return [RuleIn(**step) for step in rules.rules_document(found)]


@router.put("/rules", summary="Replace a user's notification rules", responses=_EDIT_ERRORS)
def put_rules(
    handle: NamePath, body: list[RuleIn], runtime: RuntimeDep, now: NowDep, bearer: ResponderDep
) -> list[RuleIn]:
    """Each method needs a verified contact method of that kind; bad input changes nothing."""

    def write(session: Session) -> list[RuleIn]:
        editable(session, bearer, handle)
        saved = rules.set_rules(session, handle, [f"{step.method}:{step.after}" for step in body], now)
        return [RuleIn(**step) for step in rules.rules_document(saved)]

    return read_write(runtime.engine, write)


@router.post("/test-page", summary="Send a test page now", responses=_EDIT_ERRORS)
def test_page(
    handle: NamePath, body: TestPageIn, runtime: RuntimeDep, now: NowDep, bearer: ResponderDep
) -> list[QueuedNoticeOut]:
    """One message to each verified method (or only `method`), through the outbox, now."""

    def write(session: Session) -> list[QueuedNoticeOut]:
        editable(session, bearer, handle)
        notices = reachability.test_page(session, handle, body.method, now)
        return [QueuedNoticeOut(method=n.method, address=n.address) for n in notices]

    answer = read_write(runtime.engine, write)
    wake_worker(runtime)
    return answer
