"""One entry point for everything in a config directory: schedules, then policies checked against them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pager.config.errors import ConfigError
from pager.config.incidents import load_incident_rules
from pager.config.policies import load_policies
from pager.config.schedules import load_schedules, schedule_files
from pager.core.incident_model import IncidentRules
from pager.core.model import Schedule
from pager.core.policy import EscalationPolicy, ServiceRef


@dataclass(frozen=True)
class LoadedConfig:
    """Valid schedules and policies by id, the services policies declare, the incident settings, and
    every problem found."""

    schedules: dict[str, Schedule]
    policies: dict[str, EscalationPolicy]
    errors: list[ConfigError] = field(default_factory=list)
    incidents: IncidentRules = field(default_factory=IncidentRules)  # incidents.yaml, or the defaults

    @property
    def services(self) -> dict[str, tuple[ServiceRef, EscalationPolicy]]:
        """Each declared service with the policy that covers it."""
        return {
            service.id: (service, policy) for policy in self.policies.values() for service in policy.services
        }


def load_config(config_dir: Path) -> LoadedConfig:
    """Load `config_dir/schedules`, `config_dir/escalation_policies` (a missing folder is empty) and
    the optional `config_dir/incidents.yaml` (its services and policies checked against the policies)."""
    schedules, errors = load_schedules(config_dir)
    # Targets are checked against every schedule file, so a broken schedule is reported once, in its file.
    schedule_ids = {path.stem for path in schedule_files(config_dir)}
    policies, policy_errors = load_policies(config_dir, schedule_ids)
    service_ids = {service.id for policy in policies.values() for service in policy.services}
    incidents, incident_errors = load_incident_rules(config_dir, service_ids, policies.keys())
    return LoadedConfig(schedules, policies, errors + policy_errors + incident_errors, incidents)
