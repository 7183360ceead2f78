"""Legal holds: placing re-keys the covered content under the hold's key, so its day key can be destroyed on
schedule while the held content survives it and the purge; releasing returns it to normal expiry (and it goes)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR, Actor
from accounts.models import ApiScope, Tenant
from audit.models import AuditAction, AuditEvent
from encryption import keyring
from encryption.models import DataKey, KeyState, Purpose
from encryption.services import canary_opens, data_key_destroy_refusals, data_keys_destroy_due
from messaging.inbound.media_fetch import Fetched, _store
from messaging.inbound.media_storage import media_attachment_read, media_storage
from messaging.models import Channel, MediaAttachment, Message, hold_scope
from policies.models import LegalHold
from policies.retention.purge import retention_purge
from policies.subjects.hold_rekey import legal_hold_rekey, legal_holds_maintain
from policies.subjects.holds import LegalHoldError, legal_hold_place, legal_hold_release
from policies.subjects.tasks import legal_holds_maintain_task
from tests.policies.conftest import deliver, whatsapp_text
from tests.policies.subject_support import (
    PHOTO,
    BrokerStandIn,
    attachment_store,
    customer_create,
    day_bucket,
    key_id_of_column,
    key_id_of_file,
    media_root,
    message_create,
    past,
    staff_client,
)

__all__ = ["media_root"]

CaptureCallbacks = Callable[..., AbstractContextManager[list[Callable[[], object]]]]
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def _day_key(message: Message) -> DataKey:
    return DataKey.objects.get(owner=str(message.tenant_id), purpose=Purpose.CONTENT, scope=day_bucket(message))


def _hold_key(hold: LegalHold) -> DataKey:
    return DataKey.objects.get(owner=str(hold.tenant_id), purpose=Purpose.CONTENT, scope=hold_scope(hold.pk))


def _place(tenant: Tenant, **scope: object) -> LegalHold:
    return legal_hold_place(tenant=tenant, case_reference="CASE-2026-17", reason="Litigation", actor=CLI_ACTOR, **scope)  # type: ignore[arg-type]


def _destroy_due_keys() -> None:
    DataKey.objects.filter(state=KeyState.PENDING_DESTROY).update(destroy_after=timezone.now() - timedelta(seconds=1))
    data_keys_destroy_due()
    keyring.cache_clear()


def _sealed_under(message: Message, key: DataKey) -> bool:
    return key_id_of_column(message, "content") == key.pk == key_id_of_column(message, "provider_message_id")


def test_a_held_conversation_survives_its_day_key_destruction_and_the_purge_and_goes_after_release(
    channel_a: Channel, api_client: Callable[..., APIClient], django_capture_on_commit_callbacks: CaptureCallbacks
) -> None:
    held, other = customer_create(channel_a), customer_create(channel_a)
    # Received 40 days ago under a 30-day policy: expired ten days ago; its day key's day has passed.
    held_message = message_create(held, body="held-evidence", received_at=past(40))
    attachment = attachment_store(held_message)
    other_message = message_create(other, body="ordinary", received_at=held_message.received_at)
    day_key = _day_key(held_message)
    assert _sealed_under(other_message, day_key) and key_id_of_file(attachment.storage_name) == day_key.pk

    hold = _place(held.tenant, conversation=held.conversation)
    # Until the re-keying ran, the day key still seals content the hold covers: its destruction is vetoed.
    assert any("legal hold" in reason for reason in data_key_destroy_refusals(key=day_key))

    assert legal_hold_rekey(hold_id=hold.pk) == {"messages": 1, "attachments": 1, "files": 1}
    hold.refresh_from_db()
    hold_key = _hold_key(hold)
    held_message = Message.objects.get(pk=held_message.pk)
    attachment = MediaAttachment.objects.select_related("message").get(pk=attachment.pk)
    assert (hold.rekey_pending, held_message.hold_id, attachment.hold_id) == (False, hold.pk, hold.pk)
    assert _sealed_under(held_message, hold_key)
    assert key_id_of_column(attachment, "source_reference") == hold_key.pk
    assert key_id_of_file(attachment.storage_name) == hold_key.pk
    assert attachment.storage_name.startswith(f"{hold.tenant_id}/{hold_scope(hold.pk)}/")
    assert data_key_destroy_refusals(key=day_key) == []

    # The purge and the key backstop run: the other conversation's content goes, the day key is destroyed.
    retention_purge(now=timezone.now())
    _destroy_due_keys()
    assert DataKey.objects.get(pk=day_key.pk).state == KeyState.DESTROYED
    blanked = Message.objects.filter(pk=other_message.pk, content__isnull=True, provider_message_id__isnull=True)
    assert blanked.exclude(content_purged_at=None).exists()

    # The held content is untouched and still opens: the model, the media, the API.
    held_message = Message.objects.get(pk=held_message.pk)
    assert held_message.content == {"type": "text", "text": {"body": "held-evidence"}}
    assert media_attachment_read(attachment=MediaAttachment.objects.get(pk=attachment.pk)) == PHOTO
    reader = api_client(held.tenant, ApiScope.MESSAGES_READ)
    shown = reader.get(f"/api/v1/messages/{held_message.pk}/").json()
    assert (shown["content"]["text"]["body"], shown["content_expired"]) == ("held-evidence", False)

    # Released: back under the day (a fresh key for that past day), expired at once, then purged.
    with django_capture_on_commit_callbacks(execute=True):  # files replaced are deleted once committed
        legal_hold_release(hold=hold, actor=CLI_ACTOR)
        moved = legal_hold_rekey(hold_id=hold.pk)
    assert moved == {"messages": 1, "attachments": 1, "files": 1, "keys_scheduled": 1}
    assert not media_storage().exists(attachment.storage_name)  # the copy under the hold's key
    released = Message.objects.get(pk=held_message.pk)
    assert released.hold_id is None
    assert reader.get(f"/api/v1/messages/{released.pk}/").json()["content"] is None
    file_name = MediaAttachment.objects.get(pk=attachment.pk).storage_name
    with django_capture_on_commit_callbacks(execute=True):
        retention_purge(now=timezone.now())
    _destroy_due_keys()
    assert Message.objects.get(pk=held_message.pk).content_purged_at is not None
    assert not MediaAttachment.objects.filter(pk=attachment.pk).exists()
    assert not media_storage().exists(file_name)
    hold_key.refresh_from_db()
    assert hold_key.state == KeyState.DESTROYED and not canary_opens(hold_key)
    day_keys = DataKey.objects.filter(owner=str(hold.tenant_id), purpose=Purpose.CONTENT, scope=day_key.scope)
    assert set(day_keys.values_list("state", flat=True)) == {KeyState.DESTROYED}


def test_placing_and_releasing_are_audited_with_ids_only(channel_a: Channel) -> None:
    customer = customer_create(channel_a)
    actor = Actor(label="officer@example.com", ip="198.51.100.7")
    hold = legal_hold_place(
        tenant=customer.tenant,
        contact=customer.contact,
        case_reference="CASE-SECRET-NAME",
        reason="Ada's lawsuit",
        ends_at=timezone.now() + timedelta(days=30),
        actor=actor,
    )
    legal_hold_release(hold=hold, actor=actor)
    events = AuditEvent.objects.filter(target_type="legal_hold", target_id=str(hold.pk)).order_by("seq")
    assert [event.action for event in events] == [AuditAction.LEGAL_HOLD_PLACED, AuditAction.LEGAL_HOLD_RELEASED]
    placed = events[0]
    assert (placed.actor_label, placed.ip, placed.details["scope"]) == (actor.label, actor.ip, "contact")
    assert placed.details["contact_id"] == str(customer.contact.pk)
    assert "SECRET" not in str(placed.details) and "Ada" not in str(placed.details)
    with pytest.raises(LegalHoldError, match="already released"):
        legal_hold_release(hold=hold, actor=actor)


def test_invalid_holds_are_refused_with_a_clear_reason_and_nothing_is_written(
    channel_a: Channel, channel_b: Channel
) -> None:
    mine, theirs = customer_create(channel_a), customer_create(channel_b)
    tenant, now = mine.tenant, timezone.now()
    cases: list[tuple[dict[str, object], str]] = [
        ({"contact": mine.contact, "conversation": mine.conversation}, "not both"),
        ({"contact": theirs.contact}, "another tenant"),
        ({"conversation": theirs.conversation}, "another tenant"),
        ({"case_reference": "  "}, "case reference is required"),
        ({"reason": ""}, "reason is required"),
        ({"ends_at": now - timedelta(minutes=1)}, "end must be in the future"),
        ({"ends_at": now, "now": now}, "end must be in the future"),  # a hold that would end as it starts
    ]
    for extra, message in cases:
        arguments = {"tenant": tenant, "case_reference": "CASE-1", "reason": "Litigation", "actor": CLI_ACTOR, **extra}
        with pytest.raises(LegalHoldError, match=message):
            legal_hold_place(**arguments)  # type: ignore[arg-type]
    assert not LegalHold.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.LEGAL_HOLD_PLACED).exists()


def test_content_that_arrives_under_a_tenant_hold_is_rekeyed_by_the_periodic_job(channel_a: Channel) -> None:
    customer = customer_create(channel_a)
    hold = _place(customer.tenant)
    assert legal_hold_rekey(hold_id=hold.pk) == {}
    late = message_create(customer, body="arrived later", received_at=timezone.now())
    # Meta redelivered an old one late: outside the minute-by-minute window, its day key's destruction waits.
    old = message_create(customer, body="old one", received_at=past(40))
    assert data_key_destroy_refusals(key=_day_key(old))

    assert legal_holds_maintain()["messages"] == 1
    assert Message.objects.get(pk=late.pk).hold_id == hold.pk
    assert Message.objects.get(pk=old.pk).hold_id is None

    LegalHold.objects.filter(pk=hold.pk).update(updated_at=timezone.now() - timedelta(hours=2))  # the hourly sweep
    assert legal_holds_maintain()["messages"] == 1
    old = Message.objects.get(pk=old.pk)
    assert old.hold_id == hold.pk and _sealed_under(old, _hold_key(hold))
    assert data_key_destroy_refusals(key=_day_key(old)) == []
    assert legal_holds_maintain_task() == {}  # the beat's task: nothing left to do
    # The full sweep just ran: for an hour, the runs look only at the late window again.
    older = message_create(customer, body="older one", received_at=past(41))
    assert legal_holds_maintain() == {}
    assert Message.objects.get(pk=older.pk).hold_id is None


def test_a_hold_whose_end_passed_is_released_and_its_content_returns_to_its_day_key(channel_a: Channel) -> None:
    customer = customer_create(channel_a)
    message = message_create(customer, body="for a while", received_at=timezone.now())
    ends_at = timezone.now() + timedelta(days=3)
    hold = _place(customer.tenant, contact=customer.contact, ends_at=ends_at)
    legal_hold_rekey(hold_id=hold.pk)
    assert Message.objects.get(pk=message.pk).hold_id == hold.pk

    counts = legal_holds_maintain(now=ends_at + timedelta(minutes=1))

    assert (counts["ended"], counts["messages"], counts["keys_scheduled"]) == (1, 1, 1)
    hold.refresh_from_db()
    assert (hold.released_by, hold.rekey_pending) == ("system: hold ended", False)
    message = Message.objects.get(pk=message.pk)
    assert message.hold_id is None and _sealed_under(message, _day_key(message))
    assert message.content == {"type": "text", "text": {"body": "for a while"}}
    assert _hold_key(hold).state == KeyState.PENDING_DESTROY
    released = AuditEvent.objects.get(action=AuditAction.LEGAL_HOLD_RELEASED, target_id=str(hold.pk))
    assert released.details["ended"] is True


def test_releasing_one_of_two_holds_moves_its_content_to_the_other(channel_a: Channel) -> None:
    customer = customer_create(channel_a)
    message = message_create(customer, body="doubly held", received_at=timezone.now())
    first = _place(customer.tenant, conversation=customer.conversation)
    legal_hold_rekey(hold_id=first.pk)
    second = _place(customer.tenant, contact=customer.contact)
    assert legal_hold_rekey(hold_id=second.pk) == {}  # already held by the first: left where it is

    legal_hold_release(hold=first, actor=CLI_ACTOR)
    legal_hold_rekey(hold_id=first.pk)

    message = Message.objects.get(pk=message.pk)
    assert message.hold_id == second.pk and _sealed_under(message, _hold_key(second))


def test_a_download_racing_the_hold_is_moved_under_the_hold_key_and_vetoes_its_day_key_until_then(
    channel_a: Channel, django_capture_on_commit_callbacks: CaptureCallbacks
) -> None:
    customer = customer_create(channel_a)
    message = message_create(customer, body="photo", received_at=past(40))
    attachment = attachment_store(message)
    # The download had loaded the message before the hold: it stored the file under the day key afterwards.
    MediaAttachment.objects.filter(pk=attachment.pk).update(status="pending", storage_name="")
    racing = MediaAttachment.objects.select_related("message").get(pk=attachment.pk)
    hold = _place(customer.tenant, contact=customer.contact)
    legal_hold_rekey(hold_id=hold.pk)
    assert _store(racing, Fetched(PHOTO, "image/jpeg")) == "stored"
    stored = MediaAttachment.objects.get(pk=attachment.pk)
    assert stored.hold_id == hold.pk and key_id_of_file(stored.storage_name) == _day_key(message).pk
    assert data_key_destroy_refusals(key=_day_key(message))

    with django_capture_on_commit_callbacks(execute=True):
        assert legal_holds_maintain()["files"] == 1

    moved = MediaAttachment.objects.select_related("message").get(pk=attachment.pk)
    assert key_id_of_file(moved.storage_name) == _hold_key(hold).pk
    assert not media_storage().exists(stored.storage_name)
    assert media_attachment_read(attachment=moved) == PHOTO
    assert data_key_destroy_refusals(key=_day_key(message)) == []


def test_a_tenant_wide_hold_keeps_the_tenants_raw_day_keys_and_a_contact_hold_does_not(channel_a: Channel) -> None:
    deliver(channel_a, whatsapp_text(channel_a, "wamid.RAW1"))  # raw bodies are not re-keyed under a hold
    raw_key = DataKey.objects.get(owner=str(channel_a.tenant_id), purpose=Purpose.RAW)
    contact_hold = _place(channel_a.tenant, contact=Message.objects.get().contact)
    assert data_key_destroy_refusals(key=raw_key) == []
    legal_hold_release(hold=contact_hold, actor=CLI_ACTOR)
    _place(channel_a.tenant)
    assert any("tenant-wide legal hold" in reason for reason in data_key_destroy_refusals(key=raw_key))


def test_the_admin_places_and_releases_holds_only_after_a_fresh_step_up(
    channel_a: Channel, operator: object, operator_device: object
) -> None:
    customer = customer_create(channel_a)
    form = {
        "tenant": str(customer.tenant.pk),
        "scope": "contact",
        "contact": str(customer.contact.pk),
        "case_reference": "CASE-9",
        "reason": "Regulator request",
        "ends_at": "",
    }
    stale = staff_client(operator, operator_device, stepped_up=False)  # type: ignore[arg-type]
    response = stale.post("/admin/policies/legalhold/add/", form)
    assert response.status_code == 302 and response["Location"].startswith("/account/step-up/")
    assert not LegalHold.objects.exists()

    fresh = staff_client(operator, operator_device, stepped_up=True)  # type: ignore[arg-type]
    wrong = fresh.post("/admin/policies/legalhold/add/", {**form, "contact": str(customer.conversation.pk)})
    assert wrong.status_code == 200 and "Select a valid choice" in wrong.content.decode()
    assert fresh.post("/admin/policies/legalhold/add/", form).status_code == 302
    hold = LegalHold.objects.get()
    assert (hold.contact_id, hold.case_reference, hold.placed_by) == (
        customer.contact.pk,
        "CASE-9",
        "operator@gateway.example",
    )

    release = {"action": "release_holds", "_selected_action": [str(hold.pk)]}
    assert stale.post("/admin/policies/legalhold/", release)["Location"].startswith("/account/step-up/")
    assert LegalHold.objects.get().released_at is None
    fresh.post("/admin/policies/legalhold/", release)
    assert LegalHold.objects.get().released_by == "operator@gateway.example"


def test_a_hold_placed_while_the_broker_is_down_is_kept_and_rekeyed_by_the_periodic_job(
    channel_a: Channel,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Callable[..., AbstractContextManager[object]],
) -> None:
    broker = BrokerStandIn(monkeypatch)
    broker.is_down = True
    with django_capture_on_commit_callbacks(execute=True):
        hold = _place(channel_a.tenant)

    assert LegalHold.objects.filter(pk=hold.pk, rekey_pending=True).exists()
    legal_holds_maintain_task()
    assert LegalHold.objects.filter(pk=hold.pk, rekey_pending=False).exists()
