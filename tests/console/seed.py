"""Known data for two tenants, in and around November 2026, and the figures it must give, counted here from the
seed's own lists (never through the report's code)."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

import audit.services
from accounts.actors import CLI_ACTOR, Actor
from accounts.models import Tenant, User
from audit.models import AuditAction
from audit.services import audit_record
from messaging.channels import channel_add, meta_app_register
from messaging.models import Channel, Contact, Conversation, MediaAttachment, Message
from policies.models import LegalHold
from policies.retention.services import retention_policy_update
from tests.clock import StoppedClock
from webhooks.models import Delivery

NOVEMBER = "2026-11"
START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
APP_SECRET = "report-app-secret-" + "s" * 16
_serial = itertools.count(1)


def at(day: int, hour: int = 10, minute: int = 0, second: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


@dataclass
class Seeded:
    """What was written for one tenant."""

    tenant: Tenant
    channels: dict[str, Channel] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    media: list[MediaAttachment] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)


class AuditClock:
    """Stops the audit chain's clock at a chosen time, so events land inside or outside the period."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.clock = StoppedClock(NOW)
        monkeypatch.setattr(audit.services, "timezone", self.clock)

    def record(self, when: datetime, action: str, tenant: Tenant | None, **kwargs: object) -> None:
        self.clock.at = when
        audit_record(action=action, tenant_id=tenant.pk if tenant else None, **kwargs)  # type: ignore[arg-type]
        self.clock.at = NOW


def channel_create(tenant: Tenant, platform: str, provider_id: str) -> Channel:
    app = meta_app_register(tenant=tenant, name=f"App {provider_id}", app_secret=APP_SECRET, actor=CLI_ACTOR).meta_app
    return channel_add(
        tenant=tenant,
        meta_app=app,
        platform=platform,
        provider_id=provider_id,
        access_token="EAAG" + "t" * 40,
        actor=CLI_ACTOR,
    )


def contact_create(seeded: Seeded, platform: str, *, created_at: datetime) -> Contact:
    contact = Contact.objects.create(
        tenant=seeded.tenant, platform=platform, external_id=f"1650888{next(_serial):04d}", profile={"name": "Ada"}
    )
    Contact.objects.filter(pk=contact.pk).update(created_at=created_at)
    seeded.contacts.append(contact)
    return contact


def message_create(seeded: Seeded, platform: str, direction: str, received_at: datetime) -> Message:
    channel = seeded.channels[platform]
    contact = contact_create(seeded, platform, created_at=received_at)
    conversation = Conversation.objects.create(tenant=seeded.tenant, channel=channel, contact=contact)
    message = Message(
        tenant=seeded.tenant,
        channel=channel,
        conversation=conversation,
        contact=contact,
        direction=direction,
        message_type="text",
        status="received" if direction == "inbound" else "sent",
        received_at=received_at,
        provider_timestamp=received_at,
        provider_message_id=f"wamid.report-{next(_serial)}",
        content={"type": "text", "text": {"body": "hello"}},
        content_key_day=(received_at + timedelta(days=30)).date(),
    )
    message.save()
    seeded.messages.append(message)
    return message


def media_create(seeded: Seeded, message: Message, *, status: str = "stored") -> MediaAttachment:
    attachment = MediaAttachment.objects.create(
        tenant=seeded.tenant,
        message=message,
        position=len([row for row in seeded.media if row.message_id == message.pk]),
        received_at=message.received_at,
        kind="image",
        status=status,
        source_reference=f"media-{next(_serial)}",
        content_key_day=message.content_key_day,
    )
    seeded.media.append(attachment)
    return attachment


def delivery_create(seeded: Seeded, received_at: datetime, *, status: str, latency_ms: int | None) -> Delivery:
    processed_at = None if latency_ms is None else received_at + timedelta(milliseconds=latency_ms)
    delivery = Delivery.objects.create(
        meta_app=seeded.channels["whatsapp"].meta_app,
        tenant_id=seeded.tenant.pk,
        received_at=received_at,
        signature="sha256=" + "0" * 64,
        body_bytes=2,
        body=b"{}",
        status=status,
        processed_at=processed_at,
    )
    seeded.deliveries.append(delivery)
    return delivery


# --- per tenant ----------------------------------------------------------------------------------------------

MESSAGES_A = [  # (platform, direction, received_at)
    ("whatsapp", "inbound", START),  # the first instant counts
    ("whatsapp", "inbound", at(3)),
    ("whatsapp", "inbound", at(30, 23, 59, 59)),
    ("whatsapp", "outbound", at(4)),
    ("messenger", "inbound", at(5)),
    ("messenger", "outbound", at(6)),
    ("messenger", "outbound", at(7)),
    ("whatsapp", "inbound", END),  # the end is excluded
    ("messenger", "inbound", at(20, month=10)),  # before the period
    ("whatsapp", "outbound", NOW - timedelta(hours=2)),  # this month: data held, not processed in November
]
MESSAGES_B = [("whatsapp", "inbound", at(9)), ("whatsapp", "outbound", at(9, 11))]
DELIVERIES_A = [  # (received_at, status, latency ms); two minutes of November, the second with a failure
    (at(10, 9, 0, 1), "processed", 100),
    (at(10, 9, 0, 20), "processed", 300),
    (at(10, 9, 0, 40), "processed", 200),
    (at(10, 9, 5, 0), "processed", 1000),
    (at(10, 9, 5, 30), "failed", None),
    (at(10, 9, 6, 0), "received", None),  # a third minute, not processed yet
    (at(25, month=10), "processed", 50),  # before the period
]
DELIVERIES_B = [(at(12), "processed", 9000)]
REVEALS_A = [(at(2), "customer complaint"), (at(8), "customer  complaint "), (at(9), "legal request")]
REVEALS_B = [(at(2), "audit sample")]
PURGES_A = [(at(11), {"messages": 5, "media": 2, "complete": True}), (at(12), {"messages": 3, "raw_deliveries": 4})]
KEYS_A = [(at(11), "content"), (at(12), "content"), (at(13), "subject")]
# (export id, requested at, outcome, at): the October one was asked before the period and is not counted.
EXPORTS_A = [
    ("e1", at(3), AuditAction.SUBJECT_EXPORT_READY, at(3, 10, 0, 30)),
    ("e2", at(4), AuditAction.SUBJECT_EXPORT_READY, at(4, 10, 2, 0)),
    ("e3", at(5), AuditAction.SUBJECT_EXPORT_FAILED, at(5, 10, 1, 0)),
    ("e0", at(31, month=10), AuditAction.SUBJECT_EXPORT_READY, at(1, 0, 5)),
]
ERASURES_A = [at(14), at(15)]
ERASURES_REFUSED_A = [at(16)]
HOLDS_PLACED_A = [at(17), at(18)]
HOLDS_RELEASED_A = [at(19)]


def seed_tenant_a(tenant: Tenant, clock: AuditClock, *, member: User, operator: User) -> Seeded:
    seeded = Seeded(tenant)
    seeded.channels = {
        "whatsapp": channel_create(tenant, "whatsapp", "301001001"),
        "messenger": channel_create(tenant, "messenger", "301001002"),
    }
    for platform, direction, received_at in MESSAGES_A:
        message_create(seeded, platform, direction, received_at)
    media_create(seeded, seeded.messages[1])
    media_create(seeded, seeded.messages[1])
    media_create(seeded, seeded.messages[8])
    media_create(seeded, seeded.messages[4], status="failed")  # never stored: not held
    Message.objects.filter(pk=seeded.messages[8].pk).update(content_purged_at=at(28, month=10))
    for received_at, status, latency in DELIVERIES_A:
        delivery_create(seeded, received_at, status=status, latency_ms=latency)
    _audit_a(tenant, clock, member=member, operator=operator)
    LegalHold.objects.create(tenant=tenant, case_reference="C-1", reason="case", placed_by="cli")
    LegalHold.objects.create(
        tenant=tenant, case_reference="C-2", reason="case", placed_by="cli", released_at=at(19), released_by="cli"
    )
    LegalHold.objects.create(tenant=tenant, case_reference="C-3", reason="case", placed_by="cli", ends_at=at(20))
    return seeded


def _audit_a(tenant: Tenant, clock: AuditClock, *, member: User, operator: User) -> None:
    for when, reason in REVEALS_A:
        clock.record(
            when, AuditAction.CONTENT_REVEALED, tenant, details={"model": "messaging.Message", "reason": reason}
        )
    clock.record(at(20, month=10), AuditAction.CONTENT_REVEALED, tenant, details={"reason": "customer complaint"})
    for when, counts in PURGES_A:
        clock.record(when, AuditAction.RETENTION_PURGED, tenant, target_type="purge_run", details=counts)
    for when, purpose in KEYS_A:
        clock.record(when, AuditAction.KEY_DESTROYED, tenant, target_type="data_key", details={"purpose": purpose})
    for export_id, asked, outcome, done in EXPORTS_A:
        clock.record(
            asked, AuditAction.SUBJECT_EXPORT_REQUESTED, tenant, target_type="subject_export", target_id=export_id
        )
        clock.record(done, outcome, tenant, target_type="subject_export", target_id=export_id)
    for when in ERASURES_A:
        clock.record(when, AuditAction.CONTACT_ERASED, tenant, target_type="contact", target_id=str(uuid.uuid4()))
    for when in ERASURES_REFUSED_A:
        clock.record(when, AuditAction.CONTACT_ERASURE_REFUSED, tenant, target_type="contact")
    for when in HOLDS_PLACED_A:
        clock.record(when, AuditAction.LEGAL_HOLD_PLACED, tenant, target_type="legal_hold", details={"scope": "tenant"})
    for when in HOLDS_RELEASED_A:
        clock.record(
            when, AuditAction.LEGAL_HOLD_RELEASED, tenant, target_type="legal_hold", details={"scope": "tenant"}
        )
    for when in (at(2), at(9), at(21)):
        clock.record(when, AuditAction.LOGIN_SUCCEEDED, None, actor_id=member.pk, target_type="user")
    for when in (at(3), at(27)):
        clock.record(when, AuditAction.LOGIN_SUCCEEDED, None, actor_id=operator.pk, target_type="user")
    clock.record(at(1, month=12), AuditAction.LOGIN_SUCCEEDED, None, actor_id=member.pk, target_type="user")
    clock.clock.at = at(22)
    retention_policy_update(tenant=tenant, actor=Actor(label="owner"), values={"metadata_days": 400})
    clock.clock.at = at(23)
    retention_policy_update(tenant=tenant, actor=Actor(label="owner"), values={"media_days": 20, "audit_days": 500})
    clock.clock.at = NOW


def seed_tenant_b(tenant: Tenant, clock: AuditClock, *, member: User) -> Seeded:
    seeded = Seeded(tenant)
    seeded.channels = {"whatsapp": channel_create(tenant, "whatsapp", "302002001")}
    for platform, direction, received_at in MESSAGES_B:
        message_create(seeded, platform, direction, received_at)
    media_create(seeded, seeded.messages[0])
    for received_at, status, latency in DELIVERIES_B:
        delivery_create(seeded, received_at, status=status, latency_ms=latency)
    for when, reason in REVEALS_B:
        clock.record(when, AuditAction.CONTENT_REVEALED, tenant, details={"reason": reason})
    clock.record(at(11), AuditAction.RETENTION_PURGED, tenant, details={"messages": 70})
    clock.record(at(11), AuditAction.KEY_DESTROYED, tenant, details={"purpose": "raw"})
    clock.record(at(3), AuditAction.SUBJECT_EXPORT_REQUESTED, tenant, target_type="subject_export", target_id="e1")
    clock.record(at(3, 11), AuditAction.SUBJECT_EXPORT_READY, tenant, target_type="subject_export", target_id="e1")
    clock.record(at(14), AuditAction.CONTACT_ERASED, tenant, target_type="contact")
    clock.record(at(17), AuditAction.LEGAL_HOLD_PLACED, tenant, target_type="legal_hold")
    clock.record(at(5), AuditAction.LOGIN_SUCCEEDED, None, actor_id=member.pk, target_type="user")
    LegalHold.objects.create(tenant=tenant, case_reference="B-1", reason="case", placed_by="cli")
    return seeded
