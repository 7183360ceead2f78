"""Run in a process of its own by bench/memory.py: export one contact (argv[1]) as the maintenance task builds it, then
print, as one JSON line, the outcome, the archive's size and this process's VmHWM before and after the build."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path


def high_water_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main(contact_id: uuid.UUID) -> dict[str, object]:
    import django

    django.setup()
    from accounts.actors import Actor
    from messaging.models import Contact
    from policies.models import SubjectExport
    from policies.subjects.export import subject_export_build, subject_export_request

    contact = Contact.objects.select_related("tenant").get(pk=contact_id)
    export = subject_export_request(tenant=contact.tenant, contact=contact, actor=Actor(label="bench"), enqueue=False)
    ready = high_water_kb()
    started = time.perf_counter()
    outcome = subject_export_build(export_id=export.pk)
    seconds = time.perf_counter() - started
    peak = high_water_kb()
    size = SubjectExport.objects.values_list("size", flat=True).get(pk=export.pk)
    return {"outcome": outcome, "seconds": seconds, "size": size or 0, "ready_hwm_kb": ready, "peak_hwm_kb": peak}


if __name__ == "__main__":
    print(json.dumps(main(uuid.UUID(sys.argv[1]))))
