"""Subject export: the archive holds everything about the contact (expired content as expired), is sealed at rest,
downloads only with the tenant's key and a current link, expires, and every step is audited."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR
from accounts.models import ApiScope, Tenant, TotpDevice, User
from audit.models import AuditAction, AuditEvent
from encryption.envelope import key_id_of
from encryption.models import DataKey, Purpose
from messaging.models import Channel, Contact, StatusEvent
from policies.models import ExportStatus, SubjectExport
from policies.subjects.erasure import contact_erase
from policies.subjects.export import (
    EXPORT_LIFETIME,
    MAX_BUILD_ATTEMPTS,
    REPUBLISH_AFTER,
    subject_export_build,
    subject_export_request,
    subject_exports_expire,
    subject_exports_republish,
)
from policies.subjects.export_archive import export_archive
from policies.subjects.tasks import subject_export_build_task, subject_exports_expire_task
from tests.policies.subject_support import (
    PHOTO,
    BrokerStandIn,
    Customer,
    attachment_store,
    customer_create,
    media_root,
    message_create,
    past,
    staff_client,
)

__all__ = ["media_root"]

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


@pytest.fixture
def customer(channel_a: Channel) -> Customer:
    customer = customer_create(channel_a, phone="16505550199", name="Grace Export")
    live = message_create(customer, body="still here", received_at=past(1))
    attachment_store(live)
    StatusEvent.objects.create(message=live, status="read", provider_timestamp=timezone.now())
    expired = message_create(customer, body="long gone", received_at=past(40))
    attachment_store(expired, b"EXPIRED-PHOTO")
    return customer


@pytest.fixture
def reader(api_client: Callable[..., APIClient], channel_a: Channel) -> APIClient:
    return api_client(channel_a.tenant, ApiScope.CONTACTS_EXPORT)


def _request_and_build(client: APIClient, customer: Customer) -> dict[str, Any]:
    response = client.post(f"/api/v1/contacts/{customer.contact.pk}/export/")
    assert response.status_code == 202, response.content
    created: dict[str, Any] = response.json()
    assert created["status"] == "pending" and created["download_url"] is None
    assert subject_export_build(export_id=created["id"]) == "ready"  # what the maintenance task runs
    return created


def _link(client: APIClient, customer: Customer, export_id: str) -> str:
    shown = client.get(f"/api/v1/contacts/{customer.contact.pk}/exports/{export_id}/").json()
    assert shown["status"] == "ready"
    url = urlsplit(shown["download_url"])
    return f"{url.path}?{url.query}"


def _archive(response: Any) -> zipfile.ZipFile:
    assert response.status_code == 200, getattr(response, "content", b"")
    assert response["Content-Type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_the_archive_holds_everything_about_the_contact_and_expired_content_as_expired(
    reader: APIClient, customer: Customer, media_root: Path
) -> None:
    created = _request_and_build(reader, customer)

    export = SubjectExport.objects.get(pk=created["id"])
    sealed = (media_root / export.storage_name).read_bytes()
    assert b"still here" not in sealed and sealed[:2] != b"PK"  # sealed at rest, not a zip
    key = DataKey.objects.get(pk=key_id_of(sealed))
    assert (key.purpose, key.scope) == (Purpose.CONTENT, (export.expires_at.date() + timedelta(days=1)).isoformat())

    archive = _archive(reader.get(_link(reader, customer, created["id"])))
    names = set(archive.namelist())
    contact = json.loads(archive.read("contact.json"))
    assert (contact["external_id"], contact["profile"], contact["id"]) == (
        "16505550199",
        {"name": "Grace Export"},
        str(customer.contact.pk),
    )
    (conversation,) = json.loads(archive.read("conversations.json"))
    assert conversation["channel"]["provider_id"] == customer.channel.provider_id
    old, live = json.loads(archive.read("messages.json"))
    assert (live["content"]["text"]["body"], live["content_expired"]) == ("still here", False)
    assert [status["status"] for status in live["statuses"]] == ["read"]
    assert live["provider_message_id"].startswith("wamid.subject-")
    (photo,) = live["attachments"]
    assert archive.read(photo["file"]) == PHOTO and photo["file"] in names
    assert (old["content"], old["content_expired"], old["attachments"][0]["file"]) == (None, True, None)
    assert not any(b"EXPIRED-PHOTO" in archive.read(name) or b"long gone" in archive.read(name) for name in names)


def test_links_are_single_tenant_current_and_expiring_and_every_step_is_audited(
    reader: APIClient, customer: Customer, api_client: Callable[..., APIClient], channel_b: Channel
) -> None:
    created = _request_and_build(reader, customer)
    first = _link(reader, customer, created["id"])
    other_tenant = api_client(channel_b.tenant, ApiScope.CONTACTS_EXPORT)

    assert other_tenant.get(first).status_code == 404
    assert other_tenant.get(f"/api/v1/contacts/{customer.contact.pk}/exports/{created['id']}/").status_code == 404
    assert other_tenant.post(f"/api/v1/contacts/{customer.contact.pk}/export/").status_code == 404
    assert api_client(customer.tenant, ApiScope.CONTACTS_READ).get(first).status_code == 403  # reading is not exporting
    forged = reader.get(first.split("?")[0] + "?token=forged")
    assert (forged.status_code, forged.json()["code"]) == (403, "invalid_token")
    assert reader.get(first.split("?")[0]).status_code == 400

    second = _link(reader, customer, created["id"])  # reading the export again issues a new link
    assert reader.get(first).json()["code"] == "invalid_token"
    _archive(reader.get(second))

    SubjectExport.objects.filter(pk=created["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = reader.get(second)
    assert (expired.status_code, expired.json()["code"]) == (410, "expired")
    shown = reader.get(f"/api/v1/contacts/{customer.contact.pk}/exports/{created['id']}/").json()
    assert shown["download_url"] is None

    actions = list(
        AuditEvent.objects.filter(target_type="subject_export", target_id=created["id"])
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == [
        AuditAction.SUBJECT_EXPORT_REQUESTED,
        AuditAction.SUBJECT_EXPORT_READY,
        AuditAction.SUBJECT_EXPORT_LINK_ISSUED,
        AuditAction.SUBJECT_EXPORT_LINK_ISSUED,
        AuditAction.SUBJECT_EXPORT_DOWNLOADED,
    ]
    downloaded = AuditEvent.objects.get(action=AuditAction.SUBJECT_EXPORT_DOWNLOADED)
    assert downloaded.actor_label.startswith("api_key:") and downloaded.details["via"] == "link"
    assert "Grace" not in json.dumps(list(AuditEvent.objects.values_list("details", flat=True)))


def test_expired_archives_are_deleted_by_the_periodic_job(customer: Customer, media_root: Path) -> None:
    export = subject_export_request(tenant=customer.tenant, contact=customer.contact, actor=CLI_ACTOR, enqueue=False)
    subject_export_build(export_id=export.pk)
    export.refresh_from_db()
    fresh = subject_export_request(tenant=customer.tenant, contact=customer.contact, actor=CLI_ACTOR, enqueue=False)
    subject_export_build(export_id=fresh.pk)
    fresh.refresh_from_db()
    assert (media_root / export.storage_name).exists()

    assert subject_exports_expire(now=timezone.now() + timedelta(days=1)) == {"expired": 0}
    counts = subject_exports_expire(now=timezone.now() + EXPORT_LIFETIME + timedelta(minutes=1))

    assert counts == {"expired": 2}
    assert not (media_root / export.storage_name).exists() and not (media_root / fresh.storage_name).exists()
    assert set(SubjectExport.objects.values_list("status", "storage_name", "download_token_hash")) == {
        (ExportStatus.EXPIRED, "", "")
    }
    event = AuditEvent.objects.get(action=AuditAction.SUBJECT_EXPORTS_EXPIRED)
    assert (event.tenant_id, event.details) == (customer.tenant.pk, {"exports": 2})
    assert subject_exports_expire_task() == {"expired": 0}


def test_an_export_of_a_contact_erased_meanwhile_fails_cleanly(customer: Customer, tenant_a: Tenant) -> None:
    export = subject_export_request(tenant=tenant_a, contact=customer.contact, actor=CLI_ACTOR, enqueue=False)
    contact_erase(tenant=tenant_a, contact=customer.contact, actor=CLI_ACTOR)

    assert subject_export_build(export_id=export.pk) == "not_pending"  # the erasure expired it
    assert SubjectExport.objects.get(pk=export.pk).status == ExportStatus.EXPIRED


class FlakyArchive:
    """The archive writer, failing its first ``failures`` calls with an unexpected error."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self, contact: Contact, *, now: datetime, out: IO[bytes]) -> dict[str, int]:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError("archive writer broke")
        return export_archive(contact, now=now, out=out)


def test_an_export_whose_build_fails_twice_is_built_by_its_third_attempt(
    customer: Customer, tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    flaky = FlakyArchive(failures=2)
    monkeypatch.setattr("policies.subjects.export.export_archive", flaky)
    export = subject_export_request(tenant=tenant_a, contact=customer.contact, actor=CLI_ACTOR, enqueue=False)

    for attempt in (1, 2):
        with pytest.raises(RuntimeError, match="archive writer broke"):
            subject_export_build(export_id=export.pk)
        left = SubjectExport.objects.get(pk=export.pk)
        assert (left.status, left.attempts, left.error_code) == (ExportStatus.PENDING, attempt, "")
    assert subject_export_build(export_id=export.pk) == "ready"

    built = SubjectExport.objects.get(pk=export.pk)
    assert (built.status, built.attempts, flaky.calls) == (ExportStatus.READY, MAX_BUILD_ATTEMPTS, 3)
    assert not AuditEvent.objects.filter(action=AuditAction.SUBJECT_EXPORT_FAILED).exists()


def test_an_export_whose_build_fails_every_attempt_ends_failed_and_is_not_republished(
    customer: Customer, tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    flaky = FlakyArchive(failures=10)
    monkeypatch.setattr("policies.subjects.export.export_archive", flaky)
    export = subject_export_request(tenant=tenant_a, contact=customer.contact, actor=CLI_ACTOR, enqueue=False)
    for _ in range(MAX_BUILD_ATTEMPTS):
        with pytest.raises(RuntimeError):
            subject_export_build(export_id=export.pk)
    later = timezone.now() + REPUBLISH_AFTER * 2
    assert subject_exports_republish(now=later) == {"republished": 1}  # still pending: published for its last word

    assert subject_export_build(export_id=export.pk) == "failed"

    failed = SubjectExport.objects.get(pk=export.pk)
    assert (failed.status, failed.error_code) == (ExportStatus.FAILED, "attempts_exhausted")
    assert (failed.attempts, flaky.calls) == (MAX_BUILD_ATTEMPTS + 1, MAX_BUILD_ATTEMPTS)
    event = AuditEvent.objects.get(action=AuditAction.SUBJECT_EXPORT_FAILED, target_id=str(export.pk))
    assert event.details["error_code"] == "attempts_exhausted"
    assert subject_exports_republish(now=later) == {"republished": 0}
    assert subject_export_build(export_id=export.pk) == "not_pending"


def test_a_retry_of_a_database_error_belongs_to_the_attempt_it_retries(
    customer: Customer, tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("policies.subjects.export.export_archive", FlakyArchive(failures=1))
    export = subject_export_request(tenant=tenant_a, contact=customer.contact, actor=CLI_ACTOR, enqueue=False)
    with pytest.raises(RuntimeError):
        subject_export_build(export_id=export.pk)

    assert subject_export_build(export_id=export.pk, is_retry=True) == "ready"
    assert SubjectExport.objects.get(pk=export.pk).attempts == 1


def test_the_build_task_lets_an_unexpected_error_fail_the_task_and_leaves_the_export_pending(
    customer: Customer, tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("policies.subjects.export.export_archive", FlakyArchive(failures=1))
    export = subject_export_request(tenant=tenant_a, contact=customer.contact, actor=CLI_ACTOR, enqueue=False)

    result = subject_export_build_task.apply(args=(str(export.pk),))

    assert result.failed() and isinstance(result.result, RuntimeError)
    left = SubjectExport.objects.get(pk=export.pk)
    assert (left.status, left.attempts) == (ExportStatus.PENDING, 1)
    assert subject_export_build_task.apply(args=(str(export.pk),)).get() == "ready"


def test_the_admin_exports_and_downloads_after_a_fresh_step_up(
    customer: Customer, operator: User, operator_device: TotpDevice
) -> None:
    action = {"action": "export_contacts", "_selected_action": [str(customer.contact.pk)]}
    stale = staff_client(operator, operator_device, stepped_up=False)
    assert stale.post("/admin/messaging/contact/", action)["Location"].startswith("/account/step-up/")
    assert not SubjectExport.objects.exists()

    fresh = staff_client(operator, operator_device, stepped_up=True)
    assert fresh.post("/admin/messaging/contact/", action).status_code == 302
    export = SubjectExport.objects.get()
    assert export.requested_by == operator.get_username()
    subject_export_build(export_id=export.pk)

    url = f"/admin/policies/subjectexport/{export.pk}/download/"
    assert stale.get(url)["Location"].startswith("/account/step-up/")
    response = fresh.get(url)
    assert response.status_code == 200
    assert "contact.json" in zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert AuditEvent.objects.get(action=AuditAction.SUBJECT_EXPORT_DOWNLOADED).details["via"] == "admin"


def test_the_export_command_writes_the_zip_and_prints_json(customer: Customer, tmp_path: Path) -> None:
    out, target = StringIO(), tmp_path / "subject.zip"

    call_command(
        "policies", "export", "--contact", str(customer.contact.pk), "--out", str(target), "--json", stdout=out
    )

    printed = json.loads(out.getvalue())
    assert printed["status"] == "ready" and printed["out"] == str(target)
    assert target.stat().st_mode & 0o777 == 0o600
    assert json.loads(zipfile.ZipFile(target).read("contact.json"))["external_id"] == "16505550199"


def test_an_export_asked_for_while_the_broker_is_down_is_accepted_and_published_again_later(
    reader: APIClient,
    customer: Customer,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    broker = BrokerStandIn(monkeypatch)
    broker.is_down = True
    with django_capture_on_commit_callbacks(execute=True):
        response = reader.post(f"/api/v1/contacts/{customer.contact.pk}/export/")
    broker.is_down = False

    assert response.status_code == 202, response.content
    export = SubjectExport.objects.get(pk=response.json()["id"])
    assert (export.status, broker.published) == (ExportStatus.PENDING, [])

    for seconds_early, expected in ((1, 0), (0, 1)):
        with django_capture_on_commit_callbacks(execute=True):
            due = export.created_at + REPUBLISH_AFTER - timedelta(seconds=seconds_early)
            assert subject_exports_republish(now=due) == {"republished": expected}
    assert broker.published == [("maintenance.subject_export_build", [str(export.pk)])]

    assert subject_export_build(export_id=export.pk) == "ready"
    assert subject_exports_republish(now=export.created_at + REPUBLISH_AFTER) == {"republished": 0}
