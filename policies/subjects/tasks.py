"""Tasks for legal holds and subject exports (queue ``maintenance``). Imported by ``PoliciesConfig.ready`` so the
worker knows them (Celery's autodiscovery reads ``policies.tasks`` only)."""

from __future__ import annotations

import uuid
from typing import Any

from celery import Task, shared_task
from django.db import OperationalError
from django.utils import timezone

from core.tasks import Counts, lock_guarded
from policies.subjects.export import BUILD_TASK, subject_export_build, subject_exports_expire, subject_exports_republish
from policies.subjects.hold_rekey import legal_hold_rekey, legal_holds_maintain
from policies.subjects.holds import REKEY_TASK
from policies.task_names import (
    LEGAL_HOLDS_MAINTAIN_TASK,
    SUBJECT_EXPORTS_EXPIRE_TASK,
    SUBJECT_EXPORTS_REPUBLISH_TASK,
)


@shared_task(
    name=REKEY_TASK,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def legal_hold_rekey_task(hold_id: str) -> Counts:
    """Placed or released: move the hold's content under the right key (the periodic job finishes a long one)."""
    return legal_hold_rekey(hold_id=uuid.UUID(hold_id))


@shared_task(name=LEGAL_HOLDS_MAINTAIN_TASK)
@lock_guarded("legal-holds-maintain", ttl_seconds=300)
def legal_holds_maintain_task() -> Counts:
    return legal_holds_maintain(now=timezone.now())


@shared_task(
    bind=True,
    name=BUILD_TASK,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def subject_export_build_task(self: Task[Any, Any], export_id: str) -> str:
    """One attempt at the build (Celery's retries of a database error belong to it); any other error fails the
    task, and the republish job or a redelivery makes the next attempt, up to the export's limit."""
    return subject_export_build(export_id=uuid.UUID(export_id), is_retry=bool(self.request.retries))


@shared_task(name=SUBJECT_EXPORTS_EXPIRE_TASK)
@lock_guarded("subject-exports-expire", ttl_seconds=300)
def subject_exports_expire_task() -> Counts:
    return subject_exports_expire(now=timezone.now())


@shared_task(name=SUBJECT_EXPORTS_REPUBLISH_TASK)
@lock_guarded("subject-exports-republish", ttl_seconds=300)
def subject_exports_republish_task() -> Counts:
    return subject_exports_republish(now=timezone.now())
