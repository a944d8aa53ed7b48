"""`pager simulate POLICY`: the dry run of an escalation policy, driven by the engine's own `decide`."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

import typer

from pager.commands.common import (
    database_is_migrated,
    fail,
    parse_option_instant,
    print_json,
    reported_errors,
    state,
    stored_overrides,
)
from pager.config.loader import LoadedConfig, load_config
from pager.core.policy import EscalationPolicy, NotificationRule, RulesFor, default_rules, on_call_resolver
from pager.core.simulation import DEFAULT_HORIZON, Simulation, simulate, simulation_json, simulation_lines
from pager.db.session import create_db_engine
from pager.services.people.users import everyone_now
from pager.settings import get_settings


def register(app: typer.Typer) -> None:
    """Add `simulate` to `app`."""
    app.command("simulate")(simulate_command)


def simulate_command(
    ctx: typer.Context,
    policy_id: Annotated[str, typer.Argument(metavar="POLICY", help="Policy id (its file name stem).")],
    at: Annotated[
        str | None, typer.Option("--at", help="When the alert fires, ISO 8601 with offset (default: now).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Who would be paged, how and when, level by level and loop by loop, if nobody acknowledges.

    Schedule overrides and each user's notification rules come from the database when there is one;
    without it everyone is paged by the default rules.
    """
    start = datetime.now(UTC).replace(microsecond=0) if at is None else parse_option_instant("--at", at)
    config = load_config(state(ctx).config_dir)
    policy = _policy(config, policy_id)
    schedule_ids = sorted(config.schedules)
    overrides = stored_overrides(schedule_ids, start, start + DEFAULT_HORIZON)
    rules_for, users, inactive = _rules(config)
    result = simulate(policy, start, on_call_resolver(config.schedules, overrides, inactive), rules_for)
    if as_json:
        print_json(simulation_json(result))
        return
    for line in simulation_lines(result):
        print(line)
    missing = _unknown_users(result, users)
    if missing:
        print(f"warning: {', '.join(missing)}: no such user in the database, so they cannot be paged")


def _policy(config: LoadedConfig, policy_id: str) -> EscalationPolicy:
    policy = config.policies.get(policy_id)
    if policy is not None:
        return policy
    own_errors = [
        e for e in config.errors if e.path.stem == policy_id and e.path.parent.name == "escalation_policies"
    ]
    if own_errors:
        for error in own_errors:
            print(error, file=sys.stderr)
        fail(f"policy {policy_id!r} is invalid; run `pager check`")
    known = ", ".join(sorted(config.policies)) or "none"
    fail(f"unknown policy {policy_id!r} (known: {known})")


def _rules(config: LoadedConfig) -> tuple[RulesFor, set[str] | None, frozenset[str]]:
    """Each user's rule steps from the database, the handles it knows (None: no database) and the
    deactivated ones."""
    url = get_settings().database_url
    with reported_errors():
        if not database_is_migrated(url):
            return default_rules, None, frozenset()
        engine = create_db_engine(url)
        try:
            people, inactive = everyone_now(engine)
            table = {handle: person.rules for handle, person in people.items()}
        finally:
            engine.dispose()

    def rules_for(handle: str) -> Sequence[NotificationRule]:
        return table.get(handle, ())

    return rules_for, set(table), inactive


def _unknown_users(result: Simulation, users: set[str] | None) -> list[str]:
    if users is None:
        return []
    paged = dict.fromkeys(handle for step in result.steps for handle in step.notify)
    return [handle for handle in paged if handle not in users]
