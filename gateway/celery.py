"""The only Celery app. Its configuration lives in settings (CELERY_*), built for no loss."""

from __future__ import annotations

import os

import django
from celery import Celery
from celery.signals import beat_init, celeryd_init, task_postrun, task_prerun
from django.apps import apps

from core.task_connections import task_connections_check, task_connections_settle
from core.tenancy import task_scope_begin, task_scope_end

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")

app = Celery("gateway")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A worker keeps its database connections from task to task while they are sound (core/task_connections.py):
# checked before the task's scope is set on them, settled after it is reset.
task_prerun.connect(task_connections_check, dispatch_uid="core.task_connections.check")
# Tasks are operator jobs: each runs over every tenant under row-level security (docs/isolation.md).
task_prerun.connect(task_scope_begin, dispatch_uid="core.tenancy.task_begin")
task_postrun.connect(task_scope_end, dispatch_uid="core.tenancy.task_end")
task_postrun.connect(task_connections_settle, dispatch_uid="core.task_connections.settle")


@celeryd_init.connect
@beat_init.connect
def refuse_unsafe_celery_start(**_: object) -> None:
    """Exit the worker or beat process on unsafe configuration, before it consumes or publishes anything.

    Celery logs an exception raised by a signal receiver and carries on (celery.utils.dispatch.signal), so this
    raises SystemExit, which it does not catch. ``celeryd_init`` is the worker's first signal, sent before it
    connects to the broker; ``beat_init`` comes before beat's first tick. The reason goes to file descriptor 2:
    by then beat has redirected ``sys.stderr`` into its logger, which drops what is written at exit.

    Django is set up only if it is not yet: ``django.setup()`` configures logging again each time, and in beat
    (already set up, ``sys.stderr`` redirected by then) the new handler would write into that redirect, which
    drops every line: beat would log nothing from its first tick on, errors included.
    """
    try:
        if not apps.ready:  # the worker's first signal comes before Celery's Django fix-up sets Django up
            django.setup()
        from gateway.checks import refuse_unsafe_start  # needs the app registry

        refuse_unsafe_start()
    except Exception as error:  # any failure to prove the configuration safe refuses the start
        os.write(2, f"{type(error).__name__}: {error}\n".encode())
        raise SystemExit(1) from None
