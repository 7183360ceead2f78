"""The retention purge: each kind goes exactly when due and is kept otherwise; holds, dry run, keys, records."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from pytest_django.fixtures import Settings

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from audit.models import AuditAction, AuditEvent
from audit.selectors import audit_chains_verify_all
from core.locks import held_lock
from encryption import keyring, services
from encryption.errors import DecryptionError
from encryption.models import DataKey, KeyState, Purpose
from encryption.services import data_keys_destroy_due
from events.apps import EVENT_LOG
from gateway.celery import app as celery_app
from messaging.channels import channel_add, meta_app_register
from messaging.inbound.media_storage import media_storage
from messaging.models import (
    IDEMPOTENCY_WINDOW,
    PARKED_STATUS_WINDOW,
    Channel,
    Contact,
    Conversation,
    IdempotencyRecord,
    MediaAttachment,
    Message,
    MessageStatus,
    MetaApp,
    OutboxEntry,
    ParkedStatus,
    QuarantinedItem,
    SendAttempt,
    StatusEvent,
)
from policies.models import LegalHold, PurgeCount, PurgeRun
from policies.retention.purge import PurgeKind, retention_purge, retention_purge_preview
from policies.retention.purge import kinds as purge_kinds
from policies.retention.purge import passes as purge_passes
from policies.retention.purge.passes import MAX_PAUSE_SECONDS
from policies.tasks import policies_purge_task
from webhooks.models import Delivery, DeliveryStatus

SECRET = "s" * 32
CONTENT_DAYS = 30
_serial = itertools.count()


@dataclass
class World:
    """One tenant's channel with one customer: what a message needs."""

    tenant: Tenant
    app: MetaApp
    channel: Channel
    contact: Contact
    conversation: Conversation

    def other_customer(self) -> World:
        contact = Contact.objects.create(tenant=self.tenant, platform="whatsapp", external_id=_phone())
        conversation = Conversation.objects.create(tenant=self.tenant, channel=self.channel, contact=contact)
        return World(self.tenant, self.app, self.channel, contact, conversation)


def _phone() -> str:
    return f"1650555{next(_serial):04d}"


def world_create(tenant: Tenant, provider_id: str) -> World:
    app = meta_app_register(tenant=tenant, name=f"App {provider_id}", app_secret=SECRET, actor=CLI_ACTOR).meta_app
    channel = channel_add(
        tenant=tenant,
        meta_app=app,
        platform="whatsapp",
        provider_id=provider_id,
        access_token="t" * 40,
        actor=CLI_ACTOR,
    )
    contact = Contact.objects.create(tenant=tenant, platform="whatsapp", external_id=_phone())
    conversation = Conversation.objects.create(tenant=tenant, channel=channel, contact=contact)
    return World(tenant, app, channel, contact, conversation)


def message_create(
    world: World,
    *,
    now: datetime,
    age_days: float,
    content_days: float | None = CONTENT_DAYS,
    metadata_days: float | None = None,
    hold_id: uuid.UUID | None = None,
    key_day: date | None = None,
) -> Message:
    """A message received ``age_days`` before ``now``, stamped as a policy of ``content_days`` would stamp it.
    Its content key's day is ``key_day`` (by default a year ahead: no key is due unless a test says so)."""
    received = now - timedelta(days=age_days)
    content_expires = None if content_days is None else received + timedelta(days=content_days)
    message = Message(
        tenant=world.tenant,
        channel=world.channel,
        conversation=world.conversation,
        contact=world.contact,
        direction="inbound",
        message_type="text",
        status="received",
        received_at=received,
        provider_timestamp=received,
        provider_message_id=f"wamid.purge-{next(_serial)}",
        content={"text": {"body": "hello"}},
        content_expires_at=content_expires,
        content_key_day=key_day or (now + timedelta(days=365)).date(),
        metadata_expires_at=None if metadata_days is None else received + timedelta(days=metadata_days),
        hold_id=hold_id,
    )
    message.save()
    return message


def attachment_create(message: Message, *, expires_at: datetime | None, position: int = 0) -> MediaAttachment:
    attachment = MediaAttachment(
        tenant_id=message.tenant_id,
        message=message,
        position=position,
        received_at=message.received_at,
        kind="image",
        status="stored",
        source_reference="media-id",
        expires_at=expires_at,
        content_key_day=message.content_key_day,
        hold_id=message.hold_id,
    )
    attachment.storage_name = media_storage().save(f"{message.tenant_id}/{attachment.pk}.sealed", ContentFile(b"x"))
    attachment.save()
    return attachment


def delivery_create(world: World, *, expires_at: datetime, status: str = DeliveryStatus.PROCESSED) -> Delivery:
    delivery = Delivery(
        meta_app=world.app,
        tenant_id=world.tenant.pk,
        received_at=expires_at - timedelta(days=7),
        signature="sha256=" + "0" * 64,
        body_bytes=2,
        body=b"{}",
        status=status,
        expires_at=expires_at,
    )
    delivery.save()
    return delivery


def quarantined_create(world: World, *, expires_at: datetime) -> QuarantinedItem:
    return QuarantinedItem.objects.create(
        meta_app=world.app,
        tenant_id=world.tenant.pk,
        delivery_id=uuid.uuid4(),
        item_path="entry[0].changes[0]",
        received_at=expires_at - timedelta(days=7),
        reason="unknown_channel",
        payload={"id": "x"},
        expires_at=expires_at,
    )


def _index_of(message: Message) -> bytes:
    index = Message.objects.values_list("provider_message_index", flat=True).get(pk=message.pk)
    assert index is not None
    return bytes(index)


def counts_of(run: PurgeRun) -> dict[tuple[uuid.UUID | None, str], int]:
    return {(row.tenant_id, row.kind): row.count for row in PurgeCount.objects.filter(run=run)}


def content_left(message: Message) -> bool:
    return Message.objects.filter(pk=message.pk, content__isnull=False).exists()


@pytest.fixture
def now() -> datetime:
    return timezone.now().replace(microsecond=0)


@pytest.fixture
def media_root(settings: Settings, tmp_path: Path) -> Path:
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}},
    }
    return tmp_path


@pytest.fixture
def world_a(tenant_a: Tenant) -> World:
    return world_create(tenant_a, "106540352242922")


@pytest.fixture
def world_b(tenant_b: Tenant) -> World:
    return world_create(tenant_b, "1122334455667")


# --- each kind, exactly when due --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_content_goes_at_30_days_under_a_30_day_policy_and_a_second_pass_finds_nothing(
    world_a: World, now: datetime
) -> None:
    day_29, day_30, day_31 = (message_create(world_a, now=now, age_days=age) for age in (29, 30, 31))
    index_before = _index_of(day_31)

    outcome = retention_purge(now=now)

    assert outcome.complete
    assert counts_of(outcome.run) == {(world_a.tenant.pk, "content"): 2}
    assert outcome.totals()["content"] == 2
    for gone in (day_30, day_31):
        row = Message.objects.values("content", "provider_message_id", "content_purged_at").get(pk=gone.pk)
        assert row == {"content": None, "provider_message_id": None, "content_purged_at": now}
    kept = Message.objects.get(pk=day_29.pk)
    assert (kept.content, kept.content_purged_at) == ({"text": {"body": "hello"}}, None)
    # The blind index stays: a late status still finds the message; the row itself stays (metadata).
    assert _index_of(day_31) == index_before
    assert Message.objects.count() == 3

    again = retention_purge(now=now)
    assert again.complete
    assert counts_of(again.run) == {}
    assert sum(again.totals().values()) == 0


@pytest.mark.django_db
def test_content_without_an_expiry_is_never_purged(world_a: World, now: datetime) -> None:
    old = message_create(world_a, now=now, age_days=3000, content_days=None)

    retention_purge(now=now)

    assert content_left(old)


@pytest.mark.django_db
def test_media_files_and_rows_go_with_their_own_expiry_or_their_message_content(
    world_a: World, now: datetime, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    fresh = message_create(world_a, now=now, age_days=1)
    expired = message_create(world_a, now=now, age_days=31)
    own_expiry = attachment_create(fresh, expires_at=now - timedelta(seconds=1))
    kept = attachment_create(fresh, expires_at=now + timedelta(seconds=1), position=1)
    with_message = attachment_create(expired, expires_at=now + timedelta(days=60))

    with django_capture_on_commit_callbacks(execute=True):  # files go once each batch commits
        outcome = retention_purge(now=now)

    assert counts_of(outcome.run) == {(world_a.tenant.pk, "media"): 2, (world_a.tenant.pk, "content"): 1}
    assert list(MediaAttachment.objects.values_list("pk", flat=True)) == [kept.pk]
    assert sorted(path.name for path in media_root.rglob("*.sealed")) == [Path(kept.storage_name).name]
    assert not media_storage().exists(own_expiry.storage_name)
    assert not media_storage().exists(with_message.storage_name)
    assert content_left(fresh)


@pytest.mark.django_db
def test_metadata_rows_go_with_statuses_attempts_and_outbox_and_leave_contact_and_conversation(
    world_a: World, now: datetime, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    due = message_create(world_a, now=now, age_days=731, metadata_days=730)
    kept = message_create(world_a, now=now, age_days=729, metadata_days=730)
    for message in (due, kept):
        StatusEvent.objects.create(message=message, status="delivered", provider_timestamp=message.received_at)
        SendAttempt.objects.create(message=message, tenant=world_a.tenant, number=1, started_at=message.received_at)
        OutboxEntry.objects.create(
            message=message, tenant=world_a.tenant, channel=world_a.channel, available_at=message.received_at
        )
    attachment = attachment_create(due, expires_at=None)

    with django_capture_on_commit_callbacks(execute=True):
        outcome = retention_purge(now=now)

    tenant = world_a.tenant.pk
    assert counts_of(outcome.run) == {(tenant, "metadata"): 1, (tenant, "content"): 2, (tenant, "media"): 1}
    assert list(Message.objects.values_list("pk", flat=True)) == [kept.pk]
    for model in (StatusEvent, SendAttempt, OutboxEntry):
        assert list(model.objects.values_list("message_id", flat=True)) == [kept.pk]
    assert not media_storage().exists(attachment.storage_name)
    assert Contact.objects.filter(pk=world_a.contact.pk).exists()
    assert Conversation.objects.filter(pk=world_a.conversation.pk).exists()


@pytest.mark.django_db
def test_raw_deliveries_go_once_processed_or_failed_never_while_still_to_process(world_a: World, now: datetime) -> None:
    past = now - timedelta(seconds=1)
    processed = delivery_create(world_a, expires_at=past)
    failed = delivery_create(world_a, expires_at=past, status=DeliveryStatus.FAILED)
    unprocessed = delivery_create(world_a, expires_at=past, status=DeliveryStatus.RECEIVED)
    not_due = delivery_create(world_a, expires_at=now + timedelta(seconds=1))
    quarantined_due = quarantined_create(world_a, expires_at=now)
    quarantined_kept = quarantined_create(world_a, expires_at=now + timedelta(seconds=1))

    outcome = retention_purge(now=now)

    tenant = world_a.tenant.pk
    assert counts_of(outcome.run) == {(tenant, "raw_delivery"): 2, (tenant, "quarantine"): 1}
    assert set(Delivery.objects.values_list("pk", flat=True)) == {unprocessed.pk, not_due.pk}
    assert not Delivery.objects.filter(pk__in=[processed.pk, failed.pk]).exists()
    assert list(QuarantinedItem.objects.values_list("pk", flat=True)) == [quarantined_kept.pk]
    assert quarantined_due.pk != quarantined_kept.pk


def idempotency_record_create(world: World, *, at: datetime) -> IdempotencyRecord:
    record = IdempotencyRecord.objects.create(
        tenant=world.tenant, key=str(uuid.uuid4()), request_sha256="0" * 64, response_status=202, response_body={}
    )
    IdempotencyRecord.objects.filter(pk=record.pk).update(created_at=at)  # auto_now_add ignores a value
    return record


def parked_status_create(world: World, *, at: datetime) -> ParkedStatus:
    return ParkedStatus.objects.create(
        tenant=world.tenant,
        channel=world.channel,
        received_at=at,
        provider_message_id=f"wamid.elsewhere-{uuid.uuid4().hex}",
        status=MessageStatus.DELIVERED,
        provider_timestamp=at,
    )


WINDOWED: dict[str, tuple[timedelta, Callable[..., Any], type[Any]]] = {
    "idempotency": (IDEMPOTENCY_WINDOW, idempotency_record_create, IdempotencyRecord),
    "parked_status": (PARKED_STATUS_WINDOW, parked_status_create, ParkedStatus),
}


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted(WINDOWED))
def test_rows_kept_for_a_fixed_window_go_after_it_unless_the_tenant_is_held(
    kind: str, world_a: World, world_b: World, now: datetime
) -> None:
    window, create, model = WINDOWED[kind]
    due = create(world_a, at=now - window)
    kept = create(world_a, at=now - window + timedelta(seconds=1))
    held = create(world_b, at=now - window - timedelta(days=1))
    _hold(world_b, "tenant")

    preview = retention_purge_preview(now=now)
    outcome = retention_purge(now=now)

    assert counts_of(preview.run) == counts_of(outcome.run) == {(world_a.tenant.pk, kind): 1}
    assert set(model.objects.values_list("pk", flat=True)) == {kept.pk, held.pk}
    assert due.pk not in {kept.pk, held.pk}


@pytest.mark.django_db
def test_a_pass_out_of_time_stops_marked_incomplete_and_the_next_one_finishes(world_a: World, now: datetime) -> None:
    messages = [message_create(world_a, now=now, age_days=40) for _ in range(3)]

    stopped = retention_purge(now=now, max_seconds=0)
    finished = retention_purge(now=now, batch_size=2)

    assert (stopped.complete, counts_of(stopped.run)) == (False, {})
    assert PurgeRun.objects.get(pk=stopped.run.pk).complete is False
    assert (finished.complete, counts_of(finished.run)) == (True, {(world_a.tenant.pk, "content"): 3})
    assert not any(content_left(message) for message in messages)


@pytest.mark.django_db
def test_a_paced_pass_removes_the_same_and_a_duty_out_of_range_is_refused(world_a: World, now: datetime) -> None:
    messages = [message_create(world_a, now=now, age_days=40) for _ in range(3)]

    with pytest.raises(ValueError, match="duty must be above 0 and at most 1, got 0"):
        retention_purge(now=now, duty=0)
    outcome = retention_purge(now=now, batch_size=1, duty=0.5)

    assert (outcome.complete, counts_of(outcome.run)) == (True, {(world_a.tenant.pk, "content"): 3})
    assert not any(content_left(message) for message in messages)
    assert PurgeRun.objects.count() == 1


BATCH_SECONDS = 0.125  # exact in binary: the expected pauses are exact


class _PassClock:
    """Stands in for the purge pass's ``time``: each reading is ``BATCH_SECONDS`` after the one before (a batch
    reads it as it starts and as it ends), and pauses are recorded instead of slept."""

    def __init__(self) -> None:
        self.readings = 0
        self.pauses: list[float] = []

    def monotonic(self) -> float:
        self.readings += 1
        return self.readings * BATCH_SECONDS

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("written_per_batch", "budget", "expected_pause"),
    [
        (1_000_000, 1.0, 1.0 - BATCH_SECONDS),  # 1 MB at 1 MB/s: a second, less the batch's own time
        (1_000_000, 4.0, 0.25 - BATCH_SECONDS),
        (50_000_000, 1.0, MAX_PAUSE_SECONDS),  # however busy the WAL, the pass still moves
        (0, 1.0, 0.0),
    ],
)
def test_a_pass_pauses_for_the_wal_each_batch_wrote(
    world_a: World,
    now: datetime,
    monkeypatch: pytest.MonkeyPatch,
    written_per_batch: int,
    budget: float,
    expected_pause: float,
) -> None:
    for _ in range(2):
        message_create(world_a, now=now, age_days=40)
    clock = _PassClock()
    monkeypatch.setattr(purge_kinds, "wal_position", lambda: "0/0")
    monkeypatch.setattr(purge_kinds, "wal_written_since", lambda position: written_per_batch)
    monkeypatch.setattr(purge_passes, "time", clock)

    outcome = retention_purge(now=now, batch_size=1, wal_mb_per_second=budget)

    assert counts_of(outcome.run) == {(world_a.tenant.pk, "content"): 2}
    # After every batch (of every kind; two delete the messages) when there is something to wait for.
    assert set(clock.pauses) == ({expected_pause} if expected_pause else set())
    assert len(clock.pauses) >= (2 if expected_pause else 0)


@pytest.mark.django_db
def test_without_a_wal_budget_the_wal_is_not_asked(
    world_a: World, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    message_create(world_a, now=now, age_days=40)
    monkeypatch.setattr(purge_kinds, "wal_position", lambda: pytest.fail("asked for the WAL position"))

    assert counts_of(retention_purge(now=now).run) == {(world_a.tenant.pk, "content"): 1}
    with pytest.raises(ValueError, match=r"wal_mb_per_second must be 0 \(no limit\) or more, got -1"):
        retention_purge(now=now, wal_mb_per_second=-1)


@pytest.mark.django_db
def test_the_wal_position_moves_with_what_is_written() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the WAL position is PostgreSQL's pg_current_wal_insert_lsn()")
    position = purge_kinds.wal_position()
    assert position is not None
    PurgeRun.objects.bulk_create([PurgeRun(started_at=timezone.now()) for _ in range(50)])

    assert purge_kinds.wal_written_since(position) > 0


@pytest.mark.django_db
def test_sqlite_has_no_wal_position() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's case: PostgreSQL's WAL position is tested above")
    assert purge_kinds.wal_position() is None


@pytest.mark.django_db
def test_runs_that_removed_nothing_are_kept_a_day_the_others_stay(world_a: World, now: datetime) -> None:
    message_create(world_a, now=now, age_days=31)
    kept = retention_purge(now=now).run
    empty = retention_purge(now=now).run
    preview = retention_purge_preview(now=now).run
    two_days_ago = timezone.now() - timedelta(days=2)
    PurgeRun.objects.update(started_at=two_days_ago, finished_at=two_days_ago)

    latest = retention_purge(now=now).run

    assert set(PurgeRun.objects.values_list("pk", flat=True)) == {kept.pk, preview.pk, latest.pk}
    assert empty.pk not in {kept.pk, preview.pk, latest.pk}


# --- legal holds ------------------------------------------------------------------------------------------------


def _hold(world: World, scope: str, **extra: Any) -> LegalHold:
    return LegalHold.objects.create(
        tenant=world.tenant,
        contact=world.contact if scope == "contact" else None,
        conversation=world.conversation if scope == "conversation" else None,
        case_reference="CASE-1",
        reason="litigation",
        placed_by="test",
        **extra,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("scope", ["tenant", "contact", "conversation"])
def test_everything_an_active_hold_covers_is_skipped_and_the_rest_goes(
    world_a: World, world_b: World, now: datetime, media_root: Path, scope: str
) -> None:
    _hold(world_a, scope)
    held = message_create(world_a, now=now, age_days=800, metadata_days=730)
    held_media = attachment_create(held, expires_at=now - timedelta(days=1))
    stranger = world_a.other_customer()  # same tenant, another contact and conversation
    other = message_create(stranger, now=now, age_days=800, metadata_days=730)
    elsewhere = message_create(world_b, now=now, age_days=800, metadata_days=730)
    held_delivery = delivery_create(world_a, expires_at=now - timedelta(days=1))

    outcome = retention_purge(now=now)

    assert content_left(held)
    assert MediaAttachment.objects.filter(pk=held_media.pk).exists()
    assert media_storage().exists(held_media.storage_name)
    assert not Message.objects.filter(pk=elsewhere.pk).exists()
    counts = counts_of(outcome.run)
    assert counts[(world_b.tenant.pk, "metadata")] == 1
    if scope == "tenant":  # the whole tenant: its other customers and its raw deliveries too
        assert content_left(other)
        assert Delivery.objects.filter(pk=held_delivery.pk).exists()
        assert (world_a.tenant.pk, "metadata") not in counts
    else:
        assert not Message.objects.filter(pk=other.pk).exists()
        assert not Delivery.objects.filter(pk=held_delivery.pk).exists()
        assert counts[(world_a.tenant.pk, "metadata")] == 1


@pytest.mark.django_db
def test_released_and_ended_holds_no_longer_protect(world_a: World, now: datetime) -> None:
    _hold(world_a, "tenant", released_at=now - timedelta(minutes=1), released_by="test")
    _hold(world_a, "contact", ends_at=now)
    message = message_create(world_a, now=now, age_days=31)

    retention_purge(now=now)

    assert not content_left(message)


@pytest.mark.django_db
def test_content_sealed_under_a_hold_key_is_skipped(world_a: World, now: datetime, media_root: Path) -> None:
    rekeyed = message_create(world_a, now=now, age_days=31, hold_id=uuid.uuid4())
    attachment = attachment_create(rekeyed, expires_at=now - timedelta(days=1))

    outcome = retention_purge(now=now)

    assert counts_of(outcome.run) == {}
    assert Message.objects.filter(pk=rekeyed.pk, content__isnull=False, content_purged_at__isnull=True).exists()
    assert MediaAttachment.objects.filter(pk=attachment.pk).exists()


# --- dry run ----------------------------------------------------------------------------------------------------


def _snapshot() -> dict[str, object]:
    return {
        "messages": sorted(Message.objects.values_list("pk", "content_purged_at")),
        "blank": sorted(Message.objects.filter(content__isnull=True).values_list("pk", flat=True)),
        "attachments": sorted(MediaAttachment.objects.values_list("pk", flat=True)),
        "deliveries": sorted(Delivery.objects.values_list("pk", flat=True)),
        "quarantined": sorted(QuarantinedItem.objects.values_list("pk", flat=True)),
        "keys": sorted(DataKey.objects.values_list("pk", "state", "destroy_after")),
        "audit": AuditEvent.objects.filter(action=AuditAction.RETENTION_PURGED).count(),
    }


@pytest.mark.django_db
def test_a_dry_run_changes_nothing_and_counts_what_the_real_run_then_removes(
    world_a: World, world_b: World, now: datetime, media_root: Path
) -> None:
    for world in (world_a, world_b):
        for age in (10, 31, 45):
            message_create(world, now=now, age_days=age, metadata_days=40)
        attachment_create(message_create(world, now=now, age_days=5), expires_at=now - timedelta(hours=1))
        attachment_create(message_create(world, now=now, age_days=35), expires_at=now + timedelta(days=9))
        delivery_create(world, expires_at=now - timedelta(hours=1))
        quarantined_create(world, expires_at=now - timedelta(hours=1))
    _hold(world_b, "conversation")
    yesterday = (now.astimezone(UTC).date() - timedelta(days=1)).isoformat()
    keyring.data_key_active(owner=str(world_a.tenant.pk), purpose=Purpose.RAW, scope=yesterday)
    before = _snapshot()

    preview = retention_purge_preview(now=now)

    assert _snapshot() == before
    assert preview.run.dry_run and preview.complete
    outcome = retention_purge(now=now)
    assert dict(preview.tally) == dict(outcome.tally)
    assert counts_of(preview.run) == counts_of(outcome.run)
    a, b = world_a.tenant.pk, world_b.tenant.pk
    assert counts_of(outcome.run) == {
        (a, "content"): 3,  # 31 and 45 days, and the 35-day one with media
        (a, "metadata"): 1,  # 45 days
        (a, "media"): 2,
        (a, "raw_delivery"): 1,
        (a, "quarantine"): 1,
        (a, "key"): 1,
        (b, "raw_delivery"): 1,  # a conversation hold keeps its messages, not the tenant's raw deliveries
        (b, "quarantine"): 1,
    }


# --- the key backstop -------------------------------------------------------------------------------------------


@pytest.fixture
def extra_gate(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A destroy gate that vetoes the key ids put in the yielded list (the registry is restored afterwards)."""
    vetoed: list[int] = []

    def gate(key: DataKey) -> str | None:
        return "held for a test" if key.pk in vetoed else None

    monkeypatch.setattr(services, "_destroy_gates", [*services._destroy_gates, gate])
    return vetoed


def _day(now: datetime, offset: int) -> str:
    return (now.astimezone(UTC).date() + timedelta(days=offset)).isoformat()


@pytest.mark.django_db
def test_past_day_keys_are_scheduled_then_destroyed_and_nothing_else(
    world_a: World, now: datetime, extra_gate: list[int]
) -> None:
    owner = str(world_a.tenant.pk)
    # A message whose content key's day bucket is yesterday: its content must be gone by now.
    old = message_create(world_a, now=now, age_days=CONTENT_DAYS + 2, key_day=(now - timedelta(days=2)).date())
    old_key = DataKey.objects.get(owner=owner, purpose=Purpose.CONTENT, scope=_day(now, -1))
    keys = {
        name: keyring.data_key_active(owner=owner, purpose=purpose, scope=scope)
        for name, purpose, scope in [
            ("raw_yesterday", Purpose.RAW, _day(now, -1)),
            ("raw_long_ago", Purpose.RAW, _day(now, -400)),
            ("content_today", Purpose.CONTENT, _day(now, 0)),
            ("content_tomorrow", Purpose.CONTENT, _day(now, 1)),
            ("vetoed", Purpose.CONTENT, _day(now, -3)),
            ("hold", Purpose.CONTENT, f"hold:{uuid.uuid4()}"),
            ("subject", Purpose.SUBJECT, str(world_a.contact.pk)),
        ]
    }
    extra_gate.append(keys["vetoed"].pk)

    outcome = retention_purge(now=now)

    state = dict(DataKey.objects.values_list("pk", "state"))
    scheduled = {old_key.pk, keys["raw_yesterday"].pk, keys["raw_long_ago"].pk}
    assert {pk for pk, value in state.items() if value == KeyState.PENDING_DESTROY} == scheduled
    for name in ("content_today", "content_tomorrow", "vetoed", "hold", "subject"):
        assert state[keys[name].pk] == KeyState.ACTIVE, name
    counts = counts_of(outcome.run)
    assert (counts[(world_a.tenant.pk, "key")], counts[(world_a.tenant.pk, "key_vetoed")]) == (3, 1)

    DataKey.objects.filter(pk__in=scheduled).update(destroy_after=timezone.now() - timedelta(seconds=1))
    assert data_keys_destroy_due() == 3
    keyring.cache_clear()
    assert DataKey.objects.get(pk=old_key.pk).state == KeyState.DESTROYED
    # The content the purge already blanked is gone; its provider id would no longer open either way.
    assert Message.objects.filter(pk=old.pk, content__isnull=True).exists()
    # The next pass neither schedules again nor counts destroyed keys.
    again = counts_of(retention_purge(now=now).run)
    assert again == {(world_a.tenant.pk, "key_vetoed"): 1}


@pytest.mark.django_db
def test_content_missed_by_the_purge_is_unreadable_once_its_day_key_is_destroyed(world_a: World, now: datetime) -> None:
    # Stamped with no expiry (a bug, or an old row): the row purge skips it; its day key does not.
    key_day = (now - timedelta(days=2)).date()
    message = message_create(world_a, now=now, age_days=CONTENT_DAYS + 2, content_days=None, key_day=key_day)
    assert Message.objects.get(pk=message.pk).content == {"text": {"body": "hello"}}

    outcome = retention_purge(now=now)
    assert counts_of(outcome.run) == {(world_a.tenant.pk, "key"): 1}
    DataKey.objects.filter(state=KeyState.PENDING_DESTROY).update(destroy_after=timezone.now() - timedelta(seconds=1))
    data_keys_destroy_due()
    keyring.cache_clear()

    with pytest.raises(DecryptionError):
        _ = Message.objects.get(pk=message.pk).content


@pytest.mark.django_db
def test_a_raw_key_still_sealing_an_unprocessed_delivery_is_not_scheduled(world_a: World, now: datetime) -> None:
    delivery = delivery_create(world_a, expires_at=now + timedelta(days=1), status=DeliveryStatus.RECEIVED)
    key = DataKey.objects.get(owner=str(world_a.tenant.pk), purpose=Purpose.RAW)
    day_after = date.fromisoformat(key.scope) + timedelta(days=1)
    later = datetime.combine(day_after, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)

    blocked = retention_purge(now=later)
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.PROCESSED)
    freed = retention_purge(now=later)

    assert counts_of(blocked.run).get((world_a.tenant.pk, "key_vetoed")) == 1
    assert counts_of(freed.run).get((world_a.tenant.pk, "key")) == 1
    assert DataKey.objects.get(pk=key.pk).state == KeyState.PENDING_DESTROY


# --- record, audit, task, command -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_one_audit_event_per_tenant_with_counts_and_none_when_nothing_went(
    world_a: World, world_b: World, now: datetime
) -> None:
    message_create(world_a, now=now, age_days=31)
    message_create(world_a, now=now, age_days=32)
    message_create(world_b, now=now, age_days=33)

    outcome = retention_purge(now=now, actor_label="beat")
    retention_purge(now=now)

    events = AuditEvent.objects.filter(action=AuditAction.RETENTION_PURGED).order_by("tenant_id")
    by_tenant = {event.tenant_id: event for event in events}
    assert set(by_tenant) == {world_a.tenant.pk, world_b.tenant.pk}
    assert by_tenant[world_a.tenant.pk].details == {"content": 2, "complete": True}
    assert by_tenant[world_b.tenant.pk].details == {"content": 1, "complete": True}
    assert {(event.actor_label, event.target_id) for event in events} == {("beat", str(outcome.run.pk))}
    assert all(report.is_intact for report in audit_chains_verify_all())


@pytest.mark.django_db
def test_the_beat_task_returns_counts_never_overlaps_and_runs_every_minute_on_maintenance(
    world_a: World, settings: Settings
) -> None:
    message_create(world_a, now=timezone.now(), age_days=31)

    with held_lock("periodic:policies-purge", ttl_seconds=60):
        assert policies_purge_task() == {"skipped": 1}
    counts = policies_purge_task()

    kinds = [*(kind.value for kind in PurgeKind), EVENT_LOG]  # and the logs other apps register
    assert counts == {**dict.fromkeys(kinds, 0), "content": 1, "incomplete": 0}
    assert settings.CELERY_BEAT_SCHEDULE["policies-purge"] == {"task": "maintenance.policies_purge", "schedule": 60.0}
    assert celery_app.amqp.router.route({}, policies_purge_task.name)["queue"].name == "maintenance"


@pytest.mark.django_db
def test_the_dry_run_command_prints_per_tenant_and_kind_and_as_json(world_a: World, now: datetime) -> None:
    message = message_create(world_a, now=timezone.now(), age_days=31)
    out = StringIO()

    call_command("policies", "purge", "--dry-run", stdout=out)
    text = out.getvalue()
    out = StringIO()
    call_command("policies", "purge", "--dry-run", "--json", stdout=out)
    document = json.loads(out.getvalue())

    assert "would go (dry run: nothing changed)" in text
    assert f"  {world_a.tenant.slug:<40} {'content':<14} {1:>12,}" in text.splitlines()
    assert document["dry_run"] is True
    assert document["counts"] == [
        {"tenant_id": str(world_a.tenant.pk), "tenant": world_a.tenant.slug, "kind": "content", "count": 1}
    ]
    assert document["totals"]["content"] == 1
    assert content_left(message)


@pytest.mark.django_db
def test_the_purge_command_removes_with_progress(world_a: World, capsys: pytest.CaptureFixture[str]) -> None:
    message = message_create(world_a, now=timezone.now(), age_days=31)

    call_command("policies", "purge", "--batch-size", "1")

    captured = capsys.readouterr()
    assert "content: 1" in captured.err
    assert "went" in captured.out
    assert "Total: content 1" in captured.out
    assert not content_left(message)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--batch-size", "0"], "must be a whole number from 1 to 10,000, got '0'"),
        (["--batch-size", "many"], "must be a whole number from 1 to 10,000, got 'many'"),
        (["--max-seconds", "-1"], "must be a positive number of seconds, got '-1'"),
        (["--duty", "1.5"], r"must be a share of the time above 0 and at most 1 \(e.g. 0.5\), got '1.5'"),
        (["--duty", "0"], "must be a share of the time above 0 and at most 1"),
        (["--wal-rate", "-1"], r"must be MB of WAL per second, 0 or more \(0: no limit\), got '-1'"),
        (["--wal-rate", "fast"], "must be MB of WAL per second, 0 or more"),
    ],
)
def test_bad_command_arguments_are_refused_clearly(arguments: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("policies", "purge", *arguments)
    assert not PurgeRun.objects.exists()


# --- locks ------------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_row_someone_else_holds_is_skipped_not_waited_for_then_taken_next_pass(
    tenant_a: Tenant, now: datetime
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's (SQLite locks the whole database)")
    world = world_create(tenant_a, "106540352242922")
    busy, free = (message_create(world, now=now, age_days=31) for _ in range(2))
    other = _OtherConnection()
    try:
        other.execute("BEGIN")
        other.execute("SELECT 1 FROM messaging_message WHERE id = %s FOR UPDATE", [str(busy.pk)])
        first = retention_purge(now=now)
        left_while_busy = (content_left(busy), content_left(free))
    finally:
        other.close()
    second = retention_purge(now=now)

    assert (first.complete, counts_of(first.run)) == (True, {(tenant_a.pk, "content"): 1})
    assert left_while_busy == (True, False)
    assert counts_of(second.run) == {(tenant_a.pk, "content"): 1}
    assert not content_left(busy)


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_would_wait_on_a_lock_gives_up_and_the_run_is_incomplete(
    tenant_a: Tenant, now: datetime, media_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("lock_timeout is PostgreSQL's")
    monkeypatch.setattr("policies.retention.purge.kinds.LOCK_TIMEOUT", "50ms")
    world = world_create(tenant_a, "106540352242922")
    message = message_create(world, now=now, age_days=31)
    attachment = attachment_create(message, expires_at=now + timedelta(days=30))  # goes with its message
    other = _OtherConnection()
    try:
        other.execute("BEGIN")
        other.execute("SELECT 1 FROM messaging_mediaattachment WHERE id = %s FOR UPDATE", [str(attachment.pk)])
        stopped = retention_purge(now=now)
    finally:
        other.close()
    finished = retention_purge(now=now)

    assert (stopped.complete, counts_of(stopped.run)) == (False, {})
    assert (finished.complete, counts_of(finished.run)) == (
        True,
        {(tenant_a.pk, "content"): 1, (tenant_a.pk, "media"): 1},
    )


class _OtherConnection:
    """A second database session (another process, as far as locks go)."""

    def __init__(self) -> None:
        import psycopg

        settings = connection.settings_dict
        self.connection = psycopg.connect(
            dbname=settings["NAME"],
            user=settings["USER"],
            password=settings["PASSWORD"] or None,
            host=settings["HOST"] or None,
            port=settings["PORT"] or None,
            autocommit=True,
        )

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        self.connection.execute(sql, params)

    def close(self) -> None:
        self.connection.close()
