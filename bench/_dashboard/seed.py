"""Two tenants with channels, contacts and conversations, then N messages written by PostgreSQL itself
(``generate_series``): a million rows in seconds, spread over the last 30 days, in and out, some failed."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from messaging.models import Conversation

TENANTS = 2
CHANNELS_PER_TENANT = 4
SPREAD_DAYS = 30
FAILURE_CODES = (131026, 131047, 130472, 131049, 131000)


@dataclass(frozen=True)
class Seeded:
    tenant_ids: list[uuid.UUID]
    conversations: int
    messages: int
    seconds: float


def seed(messages: int) -> Seeded:
    from accounts.actors import CLI_ACTOR
    from accounts.models import Tenant
    from messaging.channels import channel_add, meta_app_register
    from messaging.models import Contact, Conversation

    started = time.perf_counter()
    tenant_ids: list[uuid.UUID] = []
    conversations: list[Conversation] = []
    for index in range(TENANTS):
        tenant = Tenant.objects.create(name=f"Bench tenant {index}", slug=f"bench-{index}")
        tenant_ids.append(tenant.pk)
        app = meta_app_register(tenant=tenant, name=f"Bench app {index}", app_secret="s" * 32, actor=CLI_ACTOR)
        for number in range(CHANNELS_PER_TENANT):
            serial = index * CHANNELS_PER_TENANT + number
            channel = channel_add(
                tenant=tenant, meta_app=app.meta_app, platform="whatsapp", provider_id=f"9100000{serial:05d}",
                access_token="t" * 40, actor=CLI_ACTOR, display_name=f"Bench line {serial}",
            )  # fmt: skip
            contact = Contact.objects.create(tenant=tenant, platform="whatsapp", external_id=f"1650999{serial:04d}")
            conversations.append(Conversation.objects.create(tenant=tenant, channel=channel, contact=contact))
    _insert_messages(conversations, messages)
    return Seeded(tenant_ids, len(conversations), messages, time.perf_counter() - started)


def _insert_messages(conversations: list[Conversation], total: int) -> None:
    """One INSERT … SELECT per conversation; direction, status and failure code follow the series number."""
    from django.db import connection

    share = total // len(conversations)
    codes = "ARRAY[" + ",".join(str(code) for code in FAILURE_CODES) + "]"
    with connection.cursor() as cursor:
        for position, conversation in enumerate(conversations):
            count = share if position < len(conversations) - 1 else total - share * position
            cursor.execute(
                f"""
                INSERT INTO messaging_message (
                    id, created_at, updated_at, tenant_id, channel_id, conversation_id, contact_id, direction,
                    message_type, public_type, status, is_flagged, is_sent_elsewhere, is_historical, received_at,
                    provider_timestamp, edit_count, author_kind, attempt_count, failure_code, failure_title
                )
                SELECT gen_random_uuid(), now(), now(), %s, %s, %s, %s,
                    CASE WHEN n %% 2 = 0 THEN 'inbound' ELSE 'outbound' END, 'text', 'text',
                    CASE WHEN n %% 2 = 0 THEN 'received' WHEN n %% 50 = 1 THEN 'failed' ELSE 'read' END,
                    false, false, false, moment, moment, 0, '', 0,
                    CASE WHEN n %% 50 = 1 THEN ({codes})[1 + n %% 5] END, ''
                FROM generate_series(1, %s) AS n,
                    LATERAL (SELECT now() - (n * interval '{SPREAD_DAYS} days') / %s AS moment) AS at
                """,  # noqa: S608  # only integers from this module are formatted in
                [
                    conversation.tenant_id,
                    conversation.channel_id,
                    conversation.pk,
                    conversation.contact_id,
                    count,
                    count,
                ],
            )
        cursor.execute("ANALYZE messaging_message")
