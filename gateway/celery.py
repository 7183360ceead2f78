"""The only Celery app. Its configuration lives in settings (CELERY_*), built for no loss."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")

app = Celery("gateway")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _refuse_unsafe_start(**_: object) -> None:
    from gateway.checks import refuse_unsafe_start

    refuse_unsafe_start()
