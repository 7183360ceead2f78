"""Tasks published by name are registered in every process that sets Django up, not only in workers.

Celery imports task modules when a worker starts; a web process (a quarantine replay from the admin, a webhook
recorded by gunicorn) never does. The modules that publish by name rely on their app's ``ready`` instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from events.task_names import DELIVER_TASK
from messaging import task_names
from policies.subjects.export import BUILD_TASK
from policies.subjects.holds import REKEY_TASK
from tests.conftest import ROOT
from webhooks.services import PROCESS_DELIVERIES_TASK, PROCESS_DELIVERY_TASK

PUBLISHED_BY_NAME = sorted(
    {
        *(value for name, value in vars(task_names).items() if name.endswith("_TASK")),
        PROCESS_DELIVERY_TASK,
        PROCESS_DELIVERIES_TASK,
        BUILD_TASK,
        REKEY_TASK,
        DELIVER_TASK,
    }
)
SCRIPT = """
import json, django
django.setup()
from celery import current_app
print(json.dumps(sorted(current_app.tasks.keys())))
"""


def test_every_task_published_by_name_is_registered_once_django_is_set_up() -> None:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "gateway.settings"}
    answer = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=environment, capture_output=True, check=True, timeout=120
    )
    registered = set(json.loads(answer.stdout.decode().strip().splitlines()[-1]))

    assert [name for name in PUBLISHED_BY_NAME if name not in registered] == []
