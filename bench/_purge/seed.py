"""Expired rows for the purge to work on, copied in SQL from one real row each (bench/purge.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from _lib.tenants import Registered

ROWS_SHARE = 0.2  # of the expired messages, the share whose row goes too (not only the content)
DELIVERIES_SHARE = 0.2  # expired raw deliveries, per expired message


@dataclass
class Seeded:
    messages: int
    rows: int
    deliveries: int


def seed(registered: Registered, messages: int, now: datetime) -> Seeded:
    """``messages`` expired messages (``ROWS_SHARE`` of them past their metadata lifetime too) and expired, processed
    raw deliveries, each set copied from one row written through the ORM (sealed as the gateway seals it)."""
    from messaging.models import Channel, Contact, Conversation, Message
    from webhooks.models import Delivery, DeliveryStatus

    channel = Channel.objects.get(provider_id=registered.channel_provider_id)
    external_id = f"1650555{Contact.objects.count():04d}"  # a new customer per seed
    contact = Contact.objects.create(tenant_id=channel.tenant_id, platform="whatsapp", external_id=external_id)
    conversation = Conversation.objects.create(tenant_id=channel.tenant_id, channel=channel, contact=contact)
    received = now - timedelta(days=40)
    template = Message(
        tenant_id=channel.tenant_id,
        channel=channel,
        conversation=conversation,
        contact=contact,
        direction="inbound",
        message_type="text",
        status="received",
        received_at=received,
        provider_timestamp=received,
        content={"text": {"body": "an expired message of a realistic length " * 4}},
        content_expires_at=received + timedelta(days=30),
        content_key_day=(now + timedelta(days=365)).date(),  # no key falls due in this bench
        metadata_expires_at=received + timedelta(days=730),
    )
    template.save()
    rows = int(messages * ROWS_SHARE)
    _clone(Message, template.pk, messages - rows - 1)
    _clone(Message, template.pk, rows, metadata_expires_at=now - timedelta(days=1))
    delivery = Delivery(
        meta_app_id=registered.meta_app_id,
        tenant_id=channel.tenant_id,
        received_at=received,
        signature="sha256=" + "0" * 64,
        body_bytes=2,
        body=b"{}",
        status=DeliveryStatus.PROCESSED,
        expires_at=now - timedelta(days=1),
    )
    delivery.save()
    deliveries = int(messages * DELIVERIES_SHARE)
    _clone(Delivery, delivery.pk, deliveries - 1)
    return Seeded(messages, rows, deliveries)


def _clone(model: Any, template_id: uuid.UUID, count: int, **columns: Any) -> None:
    """``count`` copies of one row in one INSERT … SELECT, fresh ids, ``columns`` overridden. The copied
    ciphertexts are bound to the template's row and would not open; the purge never opens them."""
    from django.db import connection

    quote = connection.ops.quote_name
    names, values, params = [], [], []
    for model_field in model._meta.concrete_fields:
        names.append(quote(model_field.column))
        if model_field.primary_key:
            values.append("gen_random_uuid()")
        elif model_field.name in columns:
            values.append("%s")
            params.append(model_field.get_db_prep_value(columns[model_field.name], connection))
        else:
            values.append(quote(model_field.column))
    table = quote(model._meta.db_table)
    sql = (
        f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(values)} "  # noqa: S608 (names from metadata)
        f"FROM {table}, generate_series(1, %s) WHERE {quote('id')} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, count, template_id])
        cursor.execute(f"ANALYZE {table}")
