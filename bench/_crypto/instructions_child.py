"""Child of ``--instructions``: load the rows ``loads`` times (after one warm-up load) in an existing database.

python bench/_crypto/instructions_child.py DATABASE_NAME plain|encrypted LOADS
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(database: str, kind: str, loads: int) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()
    from django.db import connection

    from tests.testapp.models import Note, PlainNote

    connection.settings_dict["NAME"] = database
    model = PlainNote if kind == "plain" else Note

    def load() -> None:
        for note in model._default_manager.all():
            _ = (note.body, note.attachment, note.payload)

    load()
    gc.disable()
    for _ in range(loads):
        load()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
