"""The logs other apps register (``core.retained_logs``: the event stream's delivery log and feed) are metadata:
each tenant's rows go once older than its policy's metadata lifetime, in short batches like every other kind.

A tenant without a metadata lifetime keeps its logs. So does a tenant with any legal hold in force, on the whole
tenant, a contact or a conversation: a log's rows name contacts and conversations, and the purge cannot ask a
registered log which rows a narrower hold covers, so it keeps the tenant's whole log until the hold ends.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from accounts.models import Tenant
from core.retained_logs import RetainedLog, retained_logs
from policies.models import LegalHold
from policies.retention.purge.kinds import Step, Tally
from policies.retention.selectors import active_holds, policy_lifetimes


@dataclass(frozen=True, slots=True)
class LogTarget:
    tenant_id: uuid.UUID
    before: datetime  # the tenant's log rows older than this go


def log_targets(*, now: datetime) -> list[LogTarget]:
    """Every tenant whose logs may lose rows at ``now``: it has a metadata lifetime and no hold in force."""
    held = set(LegalHold.objects.filter(active_holds(now=now)).values_list("tenant_id", flat=True))
    targets = []
    for tenant_id in Tenant.objects.order_by("pk").values_list("pk", flat=True):
        lifetime = policy_lifetimes(tenant_id, None).metadata
        if lifetime is not None and tenant_id not in held:
            targets.append(LogTarget(tenant_id, now - lifetime))
    return targets


@dataclass
class LogSteps:
    """One registered log's batches over the tenants of a pass: each batch purges the first tenant that still
    has something due and moves past the tenants that have nothing left."""

    log: RetainedLog
    targets: list[LogTarget] = field(default_factory=list)

    def __call__(self, now: datetime, batch_size: int) -> Tally:
        while self.targets:
            target = self.targets[0]
            removed = self.log.purge(target.tenant_id, target.before, batch_size)
            if removed:
                return Tally({(target.tenant_id, self.log.name): removed})
            self.targets.pop(0)
        return Tally()


def log_steps(*, now: datetime) -> list[tuple[str, Step]]:
    """A step per registered log, over the tenants ``log_targets`` gives (asked once for the pass)."""
    targets = log_targets(now=now)
    return [(log.name, LogSteps(log, list(targets))) for log in retained_logs()]


def logs_due(*, now: datetime) -> Tally:
    """What the registered logs' steps would remove at ``now``, per tenant (the dry run)."""
    tally = Tally()
    targets = log_targets(now=now)
    for log in retained_logs():
        for target in targets:
            if due := log.due(target.tenant_id, target.before):
                tally[(target.tenant_id, log.name)] += due
    return tally


def log_names() -> list[str]:
    return [log.name for log in retained_logs()]
