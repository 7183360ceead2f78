"""Subject erasure: every row and file of the contact goes, its subject key is destroyed, nothing left in any table
opens to reveal it, a tombstone and an audited receipt stay; refused under a legal hold, also one placed while the
batches run; a message arriving meanwhile goes too; another tenant's customer with the same number is untouched,
also on a Meta app both tenants share; the same person writing again starts a fresh contact."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import models
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR
from accounts.models import ApiScope, Tenant, TotpDevice, User
from audit.models import AuditAction, AuditEvent
from encryption.blind_index import BlindIndexField
from encryption.blobs import blob_open
from encryption.errors import DecryptionError
from encryption.fields import EncryptedField, Sealed
from encryption.models import DataKey, KeyState, Purpose
from encryption.services import canary_opens, keyed_columns
from messaging.channels import channel_add, meta_app_register
from messaging.inbound.media_storage import BLOB_SLOT
from messaging.models import (
    Channel,
    Contact,
    Conversation,
    IdempotencyRecord,
    MediaAttachment,
    Message,
    ParkedStatus,
    QuarantinedItem,
    StatusEvent,
)
from policies.models import ErasureTombstone, LegalHold, SubjectExport
from policies.subjects.erasure import ErasureRefusedError, contact_erase, erasure_receipt_matches
from policies.subjects.export import ARCHIVE_SLOT, subject_export_build, subject_export_request
from policies.subjects.holds import legal_hold_place, legal_hold_release
from tests.policies.conftest import APP_SECRET, deliver, whatsapp_body, whatsapp_text
from tests.policies.subject_support import (
    PHOTO,
    Customer,
    attachment_store,
    customer_create,
    instant_key_destruction,
    media_root,
    message_create,
    staff_client,
)
from webhooks.models import Delivery

__all__ = ["instant_key_destruction", "media_root"]

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root", "instant_key_destruction")]

PHONE = "16505550123"
NAME = "Ada Erasure"
CaptureCallbacks = Callable[..., AbstractContextManager[list[Callable[[], object]]]]


def _text(channel: Channel, wamid: str, body: str, *, name: str = NAME) -> bytes:
    message = {"from": PHONE, "id": wamid, "timestamp": str(int(time.time())), "type": "text", "text": {"body": body}}
    return whatsapp_body(channel, {"contacts": [{"profile": {"name": name}, "wa_id": PHONE}], "messages": [message]})


@dataclass
class Subject:
    """Tenant A's customer (to erase) with everything the gateway can hold about it, and what proves it."""

    contact: Contact
    markers: list[bytes]  # plaintexts only this contact's data contains
    sealed_identifiers: list[tuple[str, bytes]] = field(default_factory=list)  # (field, ciphertext) as stored
    index: bytes = b""
    files: list[str] = field(default_factory=list)
    message_ids: list[uuid.UUID] = field(default_factory=list)


@pytest.fixture
def subject(channel_a: Channel, channel_b: Channel) -> Subject:
    deliver(channel_a, _text(channel_a, "wamid.ERASE-1", "erase-me-first"))
    deliver(channel_a, _text(channel_a, "wamid.ERASE-2", "erase-me-second"))
    contact = Contact.objects.get(tenant=channel_a.tenant)
    customer = Customer(channel_a.tenant, channel_a, contact, Conversation.objects.get(contact=contact))
    inbound = Message.objects.filter(contact=contact).order_by("provider_timestamp", "id")
    attachment = attachment_store(inbound[0], PHOTO + b"ERASE-ME-PHOTO")
    outbound = message_create(customer, body="erase-me-reply", received_at=timezone.now(), direction="outbound")
    StatusEvent.objects.create(message=outbound, status="delivered", provider_timestamp=timezone.now())
    ParkedStatus.objects.create(
        tenant=customer.tenant,
        channel=channel_a,
        received_at=timezone.now(),
        provider_message_id="wamid.ERASE-PARKED",
        status="read",
        provider_timestamp=timezone.now(),
        callback_data=str(outbound.pk),
    )
    IdempotencyRecord.objects.create(
        tenant=customer.tenant,
        key="send-1",
        request_sha256="0" * 64,
        response_status=202,
        response_body={"id": str(outbound.pk), "contact": str(contact.pk)},
    )
    QuarantinedItem.objects.create(
        meta_app=channel_a.meta_app,
        tenant_id=customer.tenant.pk,
        delivery_id=uuid.uuid4(),
        item_path="entry[0].changes[0].value.messages[0]",
        received_at=timezone.now(),
        reason="unknown_channel",
        payload={"from": PHONE, "text": {"body": "erase-me-quarantined"}},
    )
    export = subject_export_request(tenant=customer.tenant, contact=contact, actor=CLI_ACTOR, enqueue=False)
    assert subject_export_build(export_id=export.pk) == "ready"
    # Another customer of A, and tenant B's customer with the same number: both must stay.
    customer_create(channel_a, name="Bob Stays")
    deliver(channel_b, _text(channel_b, "wamid.B-1", "tenant-b-keeps-this", name="Ada at B"))
    stored = Contact.objects.filter(pk=contact.pk).values_list("external_id", "profile", "external_id_index").get()
    return Subject(
        contact=contact,
        markers=[b"erase-me", b"ERASE-ME-PHOTO", NAME.encode(), b"wamid.ERASE"],
        sealed_identifiers=[("external_id", bytes(stored[0])), ("profile", bytes(stored[1]))],
        index=bytes(stored[2]),
        files=[MediaAttachment.objects.get(pk=attachment.pk).storage_name, SubjectExport.objects.get().storage_name],
        message_ids=[*inbound.values_list("pk", flat=True), outbound.pk],
    )


def _eraser(api_client: Callable[..., APIClient], tenant: Tenant) -> APIClient:
    return api_client(tenant, ApiScope.CONTACTS_ERASE, ApiScope.CONTACTS_READ)


def _rows_of(subject: Subject) -> dict[str, int]:
    contact = subject.contact
    tenant_deliveries = Delivery.objects.filter(tenant_id=contact.tenant_id)
    return {
        "contacts": Contact.objects.filter(pk=contact.pk).count(),
        "conversations": Conversation.objects.filter(contact_id=contact.pk).count(),
        "messages": Message.objects.filter(contact_id=contact.pk).count(),
        "attachments": MediaAttachment.objects.filter(message_id__in=subject.message_ids).count(),
        "status_events": StatusEvent.objects.filter(message_id__in=subject.message_ids).count(),
        "parked_statuses": ParkedStatus.objects.filter(callback_data__in=map(str, subject.message_ids)).count(),
        "idempotency_records": IdempotencyRecord.objects.filter(response_body__contact=str(contact.pk)).count(),
        "raw_deliveries": tenant_deliveries.count(),
        "quarantined_items": QuarantinedItem.objects.filter(tenant_id=contact.tenant_id).count(),
        "exports_with_archive": SubjectExport.objects.filter(contact_id=contact.pk).exclude(storage_name="").count(),
    }


def _tenant_of(row: models.Model) -> uuid.UUID | None:
    tenant_id = getattr(row, "tenant_id", None)
    return tenant_id if tenant_id is None or isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id))


def _everything_that_opens(media_root: Path) -> list[tuple[str, uuid.UUID | None, bytes]]:
    """Every sealed value in every encrypted column of every model, and every stored file, that a live key still
    opens (through the production read path, with the row it belongs to): (where, tenant, plaintext)."""
    opened = []
    for column in keyed_columns():
        if not isinstance(column.field, EncryptedField):
            continue
        for row in column.model._base_manager.exclude(**{f"{column.field.attname}__isnull": True}):
            try:
                plaintext = column.field.open_bytes(row, Sealed(row.__dict__[column.field.attname]))
            except DecryptionError:
                continue
            opened.append((column.label, _tenant_of(row), plaintext))
    owners = {
        **{row.storage_name: (row, MediaAttachment._meta.label, BLOB_SLOT) for row in MediaAttachment.objects.all()},
        **{row.storage_name: (row, SubjectExport._meta.label, ARCHIVE_SLOT) for row in SubjectExport.objects.all()},
    }
    for path in (path for path in media_root.rglob("*") if path.is_file()):
        name = path.relative_to(media_root).as_posix()
        assert name in owners, f"a file no row names is left: {name}"
        row, model, slot = owners[name]
        plaintext = blob_open(tenant_id=row.tenant_id, model=model, slot=slot, row_id=row.pk, sealed=path.read_bytes())
        opened.append((name, row.tenant_id, plaintext))
    return opened


def test_erasure_leaves_no_row_file_or_readable_ciphertext_of_the_contact_and_a_receipt(
    subject: Subject,
    channel_a: Channel,
    channel_b: Channel,
    api_client: Callable[..., APIClient],
    media_root: Path,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    tenant_a, tenant_b = channel_a.tenant, channel_b.tenant
    before = _rows_of(subject)
    assert all(before.values()), before  # every kind of row the erasure must remove is there
    opened_before = _everything_that_opens(media_root)
    assert any(marker in plaintext for _, _, plaintext in opened_before for marker in subject.markers)

    with django_capture_on_commit_callbacks(execute=True):
        response = _eraser(api_client, tenant_a).post(f"/api/v1/contacts/{subject.contact.pk}/erase/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["contact"] == str(subject.contact.pk)
    assert body["counts"] == {
        "messages": 3,
        "attachments": 1,
        "files": 1,
        "status_events": 1,
        "parked_statuses": 1,
        "send_attempts": 0,
        "outbox_entries": 0,
        "idempotency_records": 1,
        "raw_deliveries": 2,
        "quarantined_items": 1,
        "exports": 1,
        "conversations": 1,
        "contacts": 1,
        "subject_keys": 1,
    }
    assert set(_rows_of(subject).values()) == {0}
    assert not any(Path(media_root, name).exists() for name in subject.files)

    # Nothing left anywhere opens to this contact's data; its number is left only in tenant B's own rows.
    opened = _everything_that_opens(media_root)
    assert {tenant for _, tenant, _ in opened} >= {tenant_a.pk, tenant_b.pk}  # the scan did open things
    for where, tenant, plaintext in opened:
        assert not any(marker in plaintext for marker in subject.markers), where
        assert PHONE.encode() not in plaintext or tenant == tenant_b.pk, where
    # Its blind index matches no row; its identifiers, as they were stored, no longer open (backups included).
    for column in keyed_columns():
        if isinstance(column.field, BlindIndexField):
            assert not column.model._base_manager.filter(**{column.field.attname: subject.index}).exists()
    key = DataKey.objects.get(owner=str(tenant_a.pk), purpose=Purpose.SUBJECT, scope=str(subject.contact.pk))
    assert key.state == KeyState.DESTROYED and not canary_opens(key)
    ghost = Contact(pk=subject.contact.pk, tenant_id=tenant_a.pk)
    for name, sealed in subject.sealed_identifiers:
        field_ = Contact._meta.get_field(name)
        assert isinstance(field_, EncryptedField)
        with pytest.raises(DecryptionError):
            field_.open_bytes(ghost, Sealed(sealed))

    # The tombstone and the receipt: counts and key fingerprints, nothing personal.
    tombstone = ErasureTombstone.objects.get(contact_id=subject.contact.pk)
    receipt = AuditEvent.objects.get(action=AuditAction.CONTACT_ERASED, target_id=str(subject.contact.pk))
    assert erasure_receipt_matches(tombstone=tombstone, details=receipt.details)
    assert body["receipt_sha256"] == tombstone.receipt_sha256 == receipt.details["receipt_sha256"]
    assert receipt.details["subject_key_ids"] == str(key.pk)
    assert receipt.details["subject_key_fingerprints"] != ""
    assert receipt.actor_label.startswith("api_key:")
    recorded = json.dumps([tombstone.counts, receipt.details]).encode()
    assert not any(marker in recorded for marker in [*subject.markers, PHONE.encode()])

    # Tenant B's customer with the same number is untouched.
    other = Contact.objects.get(tenant=tenant_b)
    assert (other.external_id, other.profile) == (PHONE, {"name": "Ada at B"})
    assert Message.objects.get(contact=other).content["text"]["body"] == "tenant-b-keeps-this"
    assert Contact.objects.filter(tenant=tenant_a).count() == 1  # Bob stays

    # The same person writing again starts a fresh contact.
    deliver(channel_a, _text(channel_a, "wamid.AGAIN", "hello again"))
    (fresh,) = [contact for contact in Contact.objects.filter(tenant=tenant_a) if contact.external_id == PHONE]
    assert fresh.pk != subject.contact.pk and Message.objects.filter(contact=fresh).count() == 1


@pytest.mark.parametrize("scope", ["tenant", "contact", "conversation"])
def test_erasure_is_refused_while_a_legal_hold_covers_the_contact_and_nothing_goes(
    subject: Subject, channel_a: Channel, api_client: Callable[..., APIClient], scope: str
) -> None:
    tenant = channel_a.tenant
    conversation = Conversation.objects.get(contact=subject.contact)
    target = {"tenant": {}, "contact": {"contact": subject.contact}, "conversation": {"conversation": conversation}}
    hold = legal_hold_place(
        tenant=tenant,
        case_reference="CASE-4",
        reason="Litigation",
        actor=CLI_ACTOR,
        **target[scope],  # type: ignore[arg-type]
    )
    before = _rows_of(subject)

    response = _eraser(api_client, tenant).post(f"/api/v1/contacts/{subject.contact.pk}/erase/")

    assert response.status_code == 409
    assert response.json()["code"] == "legal_hold" and str(hold.pk) in response.json()["detail"]
    assert _rows_of(subject) == before
    assert not ErasureTombstone.objects.exists()
    assert DataKey.objects.get(purpose=Purpose.SUBJECT, scope=str(subject.contact.pk)).state == KeyState.ACTIVE
    refused = AuditEvent.objects.get(action=AuditAction.CONTACT_ERASURE_REFUSED)
    assert refused.details == {"legal_holds": str(hold.pk)}


def test_a_released_hold_no_longer_refuses_and_keeps_naming_the_erased_contact(
    subject: Subject, channel_a: Channel, api_client: Callable[..., APIClient]
) -> None:
    hold = legal_hold_place(
        tenant=channel_a.tenant, contact=subject.contact, case_reference="CASE-5", reason="Done", actor=CLI_ACTOR
    )
    legal_hold_release(hold=hold, actor=CLI_ACTOR)

    response = _eraser(api_client, channel_a.tenant).post(f"/api/v1/contacts/{subject.contact.pk}/erase/")

    assert response.status_code == 200
    assert (
        LegalHold.objects.get(pk=hold.pk).contact_id == subject.contact.pk == ErasureTombstone.objects.get().contact_id
    )


def test_another_tenant_cannot_erase_and_a_key_without_the_scope_is_refused(
    subject: Subject, channel_b: Channel, channel_a: Channel, api_client: Callable[..., APIClient]
) -> None:
    url = f"/api/v1/contacts/{subject.contact.pk}/erase/"
    assert _eraser(api_client, channel_b.tenant).post(url).status_code == 404
    assert api_client(channel_a.tenant, ApiScope.CONTACTS_READ).post(url).status_code == 403
    assert _eraser(api_client, channel_a.tenant).post(f"/api/v1/contacts/{uuid.uuid4()}/erase/").status_code == 404
    assert Contact.objects.filter(pk=subject.contact.pk).exists()
    assert not AuditEvent.objects.filter(action=AuditAction.CONTACT_ERASED).exists()


def test_the_admin_erases_after_a_fresh_step_up_and_a_confirmation(
    subject: Subject, operator: User, operator_device: TotpDevice
) -> None:
    action = {"action": "erase_contacts", "_selected_action": [str(subject.contact.pk)]}
    stale = staff_client(operator, operator_device, stepped_up=False)
    assert stale.post("/admin/messaging/contact/", action)["Location"].startswith("/account/step-up/")
    fresh = staff_client(operator, operator_device, stepped_up=True)
    confirm = fresh.post("/admin/messaging/contact/", action)
    assert confirm.status_code == 200 and b"cannot be undone" in confirm.content
    assert Contact.objects.filter(pk=subject.contact.pk).exists()

    done = fresh.post("/admin/messaging/contact/", {**action, "confirm": "yes"})

    assert done.status_code == 302
    assert not Contact.objects.filter(pk=subject.contact.pk).exists()
    assert ErasureTombstone.objects.get().requested_by == operator.get_username()


def test_the_erase_command_asks_for_yes_and_prints_the_tombstone(subject: Subject) -> None:
    with pytest.raises(CommandError, match="--yes"):
        call_command("policies", "erase", "--contact", str(subject.contact.pk), stdout=StringIO())
    assert Contact.objects.filter(pk=subject.contact.pk).exists()

    out = StringIO()
    call_command("policies", "erase", "--contact", str(subject.contact.pk), "--yes", "--json", stdout=out)

    printed = json.loads(out.getvalue())
    tombstone = ErasureTombstone.objects.get()
    assert printed["receipt_sha256"] == tombstone.receipt_sha256 and printed["counts"]["messages"] == 3
    assert tombstone.requested_by == "cli"
    with pytest.raises(CommandError, match="No contact"):
        call_command("policies", "erase", "--contact", str(subject.contact.pk), "--yes", stdout=StringIO())


def test_a_run_stopped_half_way_is_finished_by_running_it_again(
    subject: Subject, channel_a: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from policies.subjects import erasure

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("worker killed")

    monkeypatch.setattr(erasure, "_raw_items_delete", crash)
    with pytest.raises(RuntimeError):
        erasure.contact_erase(tenant=channel_a.tenant, contact=subject.contact, actor=CLI_ACTOR, batch_size=2)
    assert Message.objects.filter(contact_id=subject.contact.pk).count() == 0  # the batches that ran stay done
    assert Contact.objects.filter(pk=subject.contact.pk).exists()
    monkeypatch.undo()

    tombstone = erasure.contact_erase(tenant=channel_a.tenant, contact=subject.contact, actor=CLI_ACTOR)

    assert tombstone.counts["messages"] == 0 and tombstone.counts["raw_deliveries"] == 2
    assert not Contact.objects.filter(pk=subject.contact.pk).exists()


def _shared_channels(*tenants: Tenant) -> list[Channel]:
    """A channel of each tenant on one Meta app of the operator's (``metaapp_register --shared``)."""
    shared = meta_app_register(tenant=None, name="Shared", app_secret=APP_SECRET, actor=CLI_ACTOR).meta_app
    return [
        channel_add(
            tenant=tenant,
            meta_app=shared,
            platform="whatsapp",
            provider_id=f"30030030{index:02d}",
            access_token="EAAG" + "t" * 40,
            actor=CLI_ACTOR,
        )
        for index, tenant in enumerate(tenants)
    ]


def test_erasure_on_a_shared_app_deletes_the_persons_deliveries_and_not_another_tenants_of_the_same_number(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    """One Meta app carries a channel of each tenant, and the same person writes to both: the deliveries are
    stored without a tenant. Erasing A's contact deletes the delivery that names A's channel and the number; B's
    delivery with the same number, and A's delivery from someone else, stay."""
    shared_a, shared_b = _shared_channels(tenant_a, tenant_b)
    erased = deliver(shared_a, _text(shared_a, "wamid.SHARED-A", "erase-me-shared"))
    other_tenant = deliver(shared_b, _text(shared_b, "wamid.SHARED-B", "tenant-b-keeps-this", name="Ada at B"))
    other_person = deliver(shared_a, whatsapp_text(shared_a, "wamid.SHARED-BOB", sender="16505559999"))
    assert {erased.tenant_id, other_tenant.tenant_id, other_person.tenant_id} == {None}
    contact = next(contact for contact in Contact.objects.filter(tenant=tenant_a) if contact.external_id == PHONE)

    tombstone = contact_erase(tenant=tenant_a, contact=contact, actor=CLI_ACTOR)

    assert tombstone.counts["raw_deliveries"] == 1
    assert set(Delivery.objects.values_list("pk", flat=True)) == {other_tenant.pk, other_person.pk}
    assert b"tenant-b-keeps-this" in Delivery.objects.get(pk=other_tenant.pk).body
    other = Contact.objects.get(tenant=tenant_b)
    assert other.external_id == PHONE and Message.objects.filter(contact=other).count() == 1


def _on_first_report(after_kind: str, action: Callable[[], object]) -> Callable[[str, int], None]:
    """A progress callback that runs ``action`` once, at the first report of ``after_kind``: something another
    request does while the erasure's batches run."""
    done: list[str] = []

    def report(kind: str, count: int) -> None:
        if kind == after_kind and not done:
            done.append(kind)
            action()

    return report


def test_a_hold_placed_while_the_batches_ran_stops_the_erasure_before_the_contact_and_its_key_go(
    subject: Subject, channel_a: Channel
) -> None:
    holds: list[LegalHold] = []

    def place() -> None:
        holds.append(
            legal_hold_place(
                tenant=channel_a.tenant,
                contact=subject.contact,
                case_reference="CASE-7",
                reason="Late",
                actor=CLI_ACTOR,
            )
        )

    with pytest.raises(ErasureRefusedError) as refused:
        contact_erase(
            tenant=channel_a.tenant,
            contact=subject.contact,
            actor=CLI_ACTOR,
            progress=_on_first_report("messages", place),
        )

    (hold,) = holds
    assert refused.value.hold_ids == [hold.pk]
    assert Message.objects.filter(contact_id=subject.contact.pk).count() == 0  # the batches that ran stay done
    assert Contact.objects.filter(pk=subject.contact.pk).exists()
    assert Conversation.objects.filter(contact_id=subject.contact.pk).count() == 1
    assert DataKey.objects.get(purpose=Purpose.SUBJECT, scope=str(subject.contact.pk)).state == KeyState.ACTIVE
    assert not ErasureTombstone.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.CONTACT_ERASED).exists()
    refusal = AuditEvent.objects.get(action=AuditAction.CONTACT_ERASURE_REFUSED)
    assert (refusal.target_id, refusal.details) == (str(subject.contact.pk), {"legal_holds": str(hold.pk)})


def test_a_message_arriving_while_the_batches_ran_goes_with_its_file_status_and_parked_status(
    subject: Subject,
    channel_a: Channel,
    media_root: Path,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    customer = Customer(channel_a.tenant, channel_a, subject.contact, Conversation.objects.get(contact=subject.contact))
    late: list[Message] = []

    def arrive() -> None:  # after the message batches found nothing more: only the final sweep can see it
        message = message_create(customer, body="erase-me-late", received_at=timezone.now())
        attachment_store(message, PHOTO + b"ERASE-ME-LATE")
        StatusEvent.objects.create(message=message, status="delivered", provider_timestamp=timezone.now())
        ParkedStatus.objects.create(
            tenant=customer.tenant,
            channel=channel_a,
            received_at=timezone.now(),
            provider_message_id="wamid.ERASE-LATE",
            status="read",
            provider_timestamp=timezone.now(),
            callback_data=str(message.pk),
        )
        late.append(message)

    with django_capture_on_commit_callbacks(execute=True):
        tombstone = contact_erase(
            tenant=channel_a.tenant,
            contact=subject.contact,
            actor=CLI_ACTOR,
            progress=_on_first_report("raw_deliveries", arrive),
        )

    (message,) = late
    counts = tombstone.counts
    assert (counts["messages"], counts["attachments"], counts["files"]) == (4, 2, 2)
    assert (counts["status_events"], counts["parked_statuses"]) == (2, 2)
    assert not ParkedStatus.objects.filter(callback_data=str(message.pk)).exists()
    assert not MediaAttachment.objects.filter(message_id=message.pk).exists()
    assert [path for path in media_root.rglob("*") if path.is_file()] == []  # the late file went too
    assert not Contact.objects.filter(pk=subject.contact.pk).exists()
