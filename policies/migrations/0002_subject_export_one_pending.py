from typing import Any

from django.db import migrations, models
from django.db.models import Max


def fail_duplicate_pending(apps: Any, schema_editor: Any) -> None:
    """Older pending exports of a contact that has several end failed (``superseded``): the newest stays pending."""
    export_model = apps.get_model("policies", "SubjectExport")
    pending = export_model.objects.filter(status="pending")
    newest = pending.values("tenant_id", "contact_id").annotate(newest=Max("created_at"))
    for row in newest:
        older = pending.filter(tenant_id=row["tenant_id"], contact_id=row["contact_id"], created_at__lt=row["newest"])
        older.update(status="failed", error_code="superseded")


class Migration(migrations.Migration):
    dependencies = [
        ("policies", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(fail_duplicate_pending, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="subjectexport",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "pending")),
                fields=("tenant", "contact_id"),
                name="subject_export_one_pending_per_contact",
            ),
        ),
    ]
