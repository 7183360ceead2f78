"""One row of every model registered in the admin, per tenant, built through the services where they exist:
the fixture of the admin scoping tests. Rows without a tenant (a shared Meta app, its webhooks, purge runs,
groups) are the operator's."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from django.contrib.auth.models import Group
from django.db.models import Model
from django.test import Client
from django.utils import timezone

from accounts.actors import CLI_ACTOR
from accounts.apikeys import api_key_issue
from accounts.mfa import backup_codes_issue, totp_device_provision
from accounts.models import BackupCodeDevice, Membership, Role, Tenant, TotpDevice, User
from audit.alerts.models import SecurityAlert, Severity, ThresholdOverride
from audit.alerts.services import AlertSpec, alert_raise
from audit.models import AuditChainHead, AuditEvent
from encryption.models import DataKey, KeyEncryptionKey
from events.endpoints import endpoint_create
from events.models import DeliveryAttempt, Event, EventDelivery
from messaging.channels import meta_app_register
from messaging.models import (
    Channel,
    ChannelAlert,
    ChannelEvent,
    Contact,
    Conversation,
    Message,
    MessageTemplate,
    MetaApp,
    ParkedReceipt,
    ParkedStatus,
    QuarantinedItem,
)
from policies.models import PurgeCount, PurgeRun
from policies.retention.services import retention_policy_update
from policies.subjects.erasure import contact_erase
from policies.subjects.export import subject_export_request
from policies.subjects.holds import legal_hold_place
from tests.conftest import PASSWORD
from tests.policies.conftest import APP_SECRET, channel_create, deliver, whatsapp_text
from tests.testapp.models import Note
from webhooks.models import Delivery
from webhooks.services import delivery_process
from webhooks.signature import signature_for

UNCLAIMED_PROVIDER_ID = "9990001112"


@dataclass
class Rows:
    """Rows by model label (``messaging.message``)."""

    by_model: dict[str, list[Model]] = field(default_factory=dict)

    def add(self, *rows: Model) -> None:
        for row in rows:
            self.by_model.setdefault(row._meta.label_lower, []).append(row)

    def first(self, label: str) -> Model:
        return self.by_model[label][0]


def staff_create(tenant: Tenant, role: str) -> User:
    user = User.objects.create_user(f"{role}@{tenant.slug}.example", PASSWORD, is_staff=True)
    Membership.objects.create(tenant=tenant, user=user, role=role)
    return user


def _quarantine(app: MetaApp) -> QuarantinedItem:
    """A webhook for a number no channel claims: processed, its item is quarantined."""
    message = {
        "from": "16505550000",
        "id": f"wamid.{app.pk}",
        "timestamp": "1750000000",
        "type": "text",
        "text": {"body": "hi"},
    }
    metadata = {"display_phone_number": "15550000000", "phone_number_id": UNCLAIMED_PROVIDER_ID}
    change = {
        "value": {"messaging_product": "whatsapp", "metadata": metadata, "messages": [message]},
        "field": "messages",
    }
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}).encode()
    before = set(QuarantinedItem.objects.values_list("pk", flat=True))
    Client().post(
        f"/webhooks/meta/{app.app_key}/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature_for(APP_SECRET, body),
    )
    delivery = Delivery.objects.filter(meta_app=app).order_by("-created_at").first()
    assert delivery is not None
    delivery_process(delivery_id=delivery.pk)
    item: QuarantinedItem = QuarantinedItem.objects.exclude(pk__in=before).get(meta_app=app)
    return item


def _tenant_keys(tenant: Tenant) -> list[Model]:
    owner = str(tenant.pk)
    return [*KeyEncryptionKey.objects.filter(owner=owner)[:1], *DataKey.objects.filter(owner=owner)[:1]]


def _event_rows(tenant: Tenant, channel: Channel) -> list[Model]:
    """An endpoint of the tenant's, an event, and one attempt to deliver it (the delivery log)."""
    values = {"url": f"http://127.0.0.1:9/{tenant.slug}", "event_types": ["message.received"], "channel": channel}
    endpoint = endpoint_create(tenant=tenant, values=values, actor=CLI_ACTOR).endpoint
    now = timezone.now()
    event = Event.objects.create(tenant=tenant, type="message.received", occurred_at=now, channel_id=channel.pk)
    delivery = EventDelivery.objects.create(tenant=tenant, event=event, endpoint=endpoint, next_attempt_at=now)
    attempt = DeliveryAttempt.objects.create(
        tenant=tenant, delivery=delivery, endpoint=endpoint, attempted_at=now, status_code=500
    )
    return [endpoint, event, attempt]


def tenant_rows(tenant: Tenant, provider_id: str, sender: str) -> Rows:
    """Every kind of row the admin shows, for ``tenant`` (its owner is ``owner@<slug>.example``)."""
    rows = Rows()
    owner = staff_create(tenant, Role.OWNER)
    backup_codes_issue(user=owner)
    totp_device_provision(user=owner)
    rows.add(tenant, owner, Membership.objects.get(user=owner))
    rows.add(TotpDevice.objects.get(user=owner), BackupCodeDevice.objects.get(user=owner))
    rows.add(api_key_issue(tenant=tenant, name=f"CRM {tenant.slug}", scopes=["keys:read"]).api_key)
    channel = channel_create(tenant, provider_id)
    rows.add(channel.meta_app, channel)
    delivery = deliver(channel, whatsapp_text(channel, f"wamid.{tenant.slug}", sender=sender))
    message = Message.objects.get(tenant=tenant)
    contact = Contact.objects.get(tenant=tenant)
    rows.add(delivery, contact, message, Conversation.objects.get(contact=contact), _quarantine(channel.meta_app))
    deliver(channel, whatsapp_text(channel, f"wamid.{tenant.slug}.erased", sender=sender[:-1] + "9"))
    erased = Contact.objects.filter(tenant=tenant).exclude(pk=contact.pk).get()
    rows.add(contact_erase(tenant=tenant, contact=erased, actor=CLI_ACTOR))
    now = timezone.now()
    rows.add(
        ChannelEvent.objects.create(
            tenant=tenant,
            channel=channel,
            field="account_update",
            payload={},
            fingerprint=uuid.uuid4().hex,
            received_at=now,
        ),
        ChannelAlert.objects.create(tenant=tenant, channel=channel, error_code=190, error_title="Token expired"),
        MessageTemplate.objects.create(
            tenant=tenant, waba_id="102290129340398", name=f"t_{tenant.pk.hex}", language="en"
        ),
        ParkedStatus.objects.create(
            tenant=tenant,
            channel=channel,
            received_at=now,
            provider_message_id=f"wamid.parked.{tenant.slug}",
            status="delivered",
            provider_timestamp=now,
        ),
        ParkedReceipt.objects.create(
            tenant=tenant,
            channel=channel,
            contact=contact,
            status="read",
            watermark=now,
            provider_timestamp=now,
            received_at=now,
        ),
        retention_policy_update(tenant=tenant, actor=CLI_ACTOR, values={"content_max_days": 30}),
        legal_hold_place(
            tenant=tenant, contact=contact, case_reference=f"CASE-{tenant.slug}", reason="r", actor=CLI_ACTOR
        ),
        subject_export_request(tenant=tenant, contact=contact, actor=CLI_ACTOR, enqueue=False),
        Note._default_manager.create(tenant_id=tenant.pk, title=f"Note {tenant.slug}", body="marker-note"),
        Group.objects.create(name=f"group-{tenant.slug}"),
    )
    rows.add(*_event_rows(tenant, channel))
    rows.add(AuditEvent.objects.filter(tenant_id=tenant.pk).order_by("seq").first())  # type: ignore[arg-type]
    rows.add(
        _security_alert(tenant.pk), ThresholdOverride.objects.create(tenant_id=tenant.pk, name="baseline_days", value=3)
    )
    rows.add(AuditChainHead.objects.get(chain=str(tenant.pk)), *_tenant_keys(tenant))
    return rows


def operator_rows() -> Rows:
    """Rows that belong to no tenant: a shared app with a quarantined item, a purge run, the operator chain."""
    rows = Rows()
    shared = meta_app_register(tenant=None, name="Shared app", app_secret=APP_SECRET, actor=CLI_ACTOR).meta_app
    rows.add(shared, _quarantine(shared), Delivery.objects.filter(meta_app=shared).get())
    run = PurgeRun.objects.create(started_at=timezone.now(), complete=True)
    PurgeCount.objects.create(run=run, tenant_id=None, kind="content", count=1)
    rows.add(run, _security_alert(None))
    rows.add(AuditEvent.objects.filter(tenant_id=None).order_by("seq").first())  # type: ignore[arg-type]
    return rows


def _security_alert(tenant_id: uuid.UUID | None) -> SecurityAlert:
    spec = AlertSpec(
        detector="test.rows",
        dedupe_key=f"rows:{tenant_id}",
        tenant_id=tenant_id,
        severity=Severity.LOW,
        title="A test alert",
        evidence={"count": 1},
        suggested_action="None.",
    )
    return alert_raise(spec=spec).alert
