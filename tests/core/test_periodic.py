"""Beat's schedule gathered from the apps' ``PERIODIC`` declarations: the same entries, tasks and intervals as
the schedule once written out in the settings, every task registered, and no entry declared twice."""

from __future__ import annotations

import pytest
from django.conf import settings

from core.periodic import Periodic, beat_schedule
from gateway.celery import app as celery_app

EXPECTED = {
    "audit-verify-chains": {"task": "maintenance.audit_verify_chains", "schedule": 3600.0},
    "security-alerts-quiet-resolve": {"task": "maintenance.security_alerts_quiet_resolve", "schedule": 600.0},
    "audit-checkpoints": {"task": "maintenance.audit_checkpoints", "schedule": 3600.0},
    "throttle-prune": {"task": "maintenance.throttle_prune", "schedule": 3600.0},
    "keys-destroy-due": {"task": "maintenance.keys_destroy_due", "schedule": 60.0},
    "policies-purge": {"task": "maintenance.policies_purge", "schedule": 60.0},
    "legal-holds-maintain": {"task": "maintenance.legal_holds_maintain", "schedule": 60.0},
    "subject-exports-expire": {"task": "maintenance.subject_exports_expire", "schedule": 600.0},
    "subject-exports-republish": {"task": "maintenance.subject_exports_republish", "schedule": 300.0},
    "audit-prune": {"task": "maintenance.audit_prune", "schedule": 3600.0},
    "deliveries-sweep": {"task": "maintenance.deliveries_sweep", "schedule": 60.0},
    "media-sweep": {"task": "maintenance.media_sweep", "schedule": 300.0},
    "outbound-relay": {"task": "maintenance.outbound_relay", "schedule": 2.0},
    "outbound-sweep": {"task": "maintenance.outbound_sweep", "schedule": 10.0},
    "conversation-windows-closing": {"task": "maintenance.conversation_windows_closing", "schedule": 60.0},
    "templates-sync": {"task": "maintenance.templates_sync", "schedule": 3600.0},
    "events-relay": {"task": "maintenance.events_relay", "schedule": 2.0},
    "console-traffic-rollup": {"task": "maintenance.console_traffic_rollup", "schedule": 60.0},
}


def test_the_gathered_schedule_is_every_periodic_task_with_its_interval() -> None:
    assert settings.CELERY_BEAT_SCHEDULE == EXPECTED
    assert celery_app.conf.beat_schedule == EXPECTED


def test_every_scheduled_task_is_registered_under_its_name() -> None:
    celery_app.loader.import_default_modules()
    missing = {entry["task"] for entry in EXPECTED.values()} - set(celery_app.tasks.keys())
    assert missing == set()


def test_an_entry_declared_twice_is_refused() -> None:
    first = (Periodic("sweep", "maintenance.a", 60.0),)
    second = (Periodic("sweep", "maintenance.b", 10.0),)

    with pytest.raises(ValueError, match="'sweep' is declared twice"):
        beat_schedule(first, second)
