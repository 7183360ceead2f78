from django.db import migrations, models

import core.models


class Migration(migrations.Migration):
    """The ids come from time_ordered_uuid from now on. A Python default only: nothing changes in the database
    (SQLite would otherwise copy the whole table to apply it)."""

    dependencies = [
        ("messaging", "0011_foreign_keys_covered_by_unique"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="message",
                    name="id",
                    field=models.UUIDField(
                        default=core.models.time_ordered_uuid, editable=False, primary_key=True, serialize=False
                    ),
                ),
            ],
        ),
    ]
