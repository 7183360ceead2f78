from __future__ import annotations

from celery import shared_task

from core.tasks import Counts, lock_guarded
from encryption.services import data_keys_destroy_due
from encryption.task_names import KEYS_DESTROY_DUE_TASK


@shared_task(name=KEYS_DESTROY_DUE_TASK)
@lock_guarded("keys-destroy-due")
def keys_destroy_due_task() -> Counts:
    return {"destroyed": data_keys_destroy_due(actor_label="beat")}
