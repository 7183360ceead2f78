"""Room on each page of webhooks_delivery for the processed version of its rows (PostgreSQL only; see
core.table_storage): a delivery is inserted, then marked processed moments later."""

from django.db import migrations

from core.table_storage import fillfactor_set

DELIVERY_FILLFACTOR = 90


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0005_delivery_ack_ms"),
    ]

    operations = [
        fillfactor_set("webhooks_delivery", DELIVERY_FILLFACTOR),
    ]
