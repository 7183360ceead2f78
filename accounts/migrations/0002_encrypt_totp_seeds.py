"""TOTP seeds become encrypted fields (envelope v1 under the operator's secret keys).

Existing rows get a ``uid`` (the row id the ciphertext is bound to), then their hex seed is sealed
into the new ``key`` column and the plaintext column is dropped.
"""

import uuid

from django.db import migrations, models

import encryption.fields


def assign_uids(apps, schema_editor):
    TotpDevice = apps.get_model("accounts", "TotpDevice")
    for device in TotpDevice.objects.filter(uid__isnull=True).only("pk"):
        TotpDevice.objects.filter(pk=device.pk).update(uid=uuid.uuid4())


def seal_seeds(apps, schema_editor):
    TotpDevice = apps.get_model("accounts", "TotpDevice")
    for device in TotpDevice.objects.all():
        device.key = device.key_plain
        device.save(update_fields=["key"])


def unseal_seeds(apps, schema_editor):
    TotpDevice = apps.get_model("accounts", "TotpDevice")
    for device in TotpDevice.objects.all():
        device.key_plain = device.key
        device.save(update_fields=["key_plain"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("encryption", "0001_initial"),
    ]

    operations = [
        migrations.AddField(model_name="totpdevice", name="uid", field=models.UUIDField(editable=False, null=True)),
        migrations.RunPython(assign_uids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="totpdevice",
            name="uid",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.RenameField(model_name="totpdevice", old_name="key", new_name="key_plain"),
        migrations.AlterField(
            model_name="totpdevice", name="key_plain", field=models.CharField(max_length=80, null=True)
        ),
        migrations.AddField(
            model_name="totpdevice",
            name="key",
            field=encryption.fields.EncryptedTextField(
                null=True, purpose="secret", row_id_attribute="uid", tenant_attribute=None
            ),
        ),
        migrations.RunPython(seal_seeds, unseal_seeds),
        migrations.RemoveField(model_name="totpdevice", name="key_plain"),
        migrations.AlterField(
            model_name="totpdevice",
            name="key",
            field=encryption.fields.EncryptedTextField(purpose="secret", row_id_attribute="uid", tenant_attribute=None),
        ),
    ]
