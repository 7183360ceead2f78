"""A delivery whose processing keeps failing is dead-lettered after GATEWAY_DELIVERY_MAX_ATTEMPTS, not
requeued forever; an operator can requeue it (audited)."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.actors import CLI_ACTOR
from accounts.mfa import totp_device_provision
from accounts.models import Membership, Role, Tenant, User
from audit.models import AuditAction, AuditEvent
from core.metrics import metric_value
from messaging.channels import meta_app_register
from messaging.models import MetaApp
from tests.conftest import PASSWORD, verify_session
from webhooks import services as webhook_services
from webhooks import tasks as webhook_tasks
from webhooks.models import Delivery, DeliveryStatus
from webhooks.services import deliveries_fail_exhausted, deliveries_requeue_stale
from webhooks.tasks import deliveries_sweep_task, process_delivery_task

pytestmark = pytest.mark.django_db
CANARY = "canary-content-5521"


@pytest.fixture(autouse=True)
def _max_attempts(settings: Any) -> None:
    settings.GATEWAY_DELIVERY_MAX_ATTEMPTS = 3


@pytest.fixture
def app(tenant_a: Tenant) -> MetaApp:
    return meta_app_register(tenant=tenant_a, name="A", app_secret="s" * 32, actor=CLI_ACTOR).meta_app


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, ...]]:
    calls: list[tuple[object, ...]] = []
    monkeypatch.setattr(webhook_services, "enqueue_on_commit", lambda task, *args: calls.append(args))
    return calls


def _delivery(app: MetaApp, *, minutes_ago: int = 5, body: bytes = b'{"object": "page", "entry": []}') -> Delivery:
    return Delivery.objects.create(
        meta_app=app,
        tenant_id=app.tenant_id,
        body=body,
        body_bytes=len(body),
        signature="",
        received_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


def _run(delivery: Delivery, *, retries: int = 0) -> dict[str, int]:
    result: dict[str, int] = process_delivery_task.apply(args=(str(delivery.pk),), retries=retries).get()
    return result


@pytest.fixture
def poison(monkeypatch: pytest.MonkeyPatch) -> None:
    """Processing raises a bug whose message quotes content, as a KeyError on a payload value would."""

    def explode(*, delivery_id: uuid.UUID) -> None:
        raise KeyError(CANARY)

    monkeypatch.setattr(webhook_tasks, "delivery_process", explode)


def test_a_delivery_that_processes_counts_one_attempt(app: MetaApp) -> None:
    delivery = _delivery(app)

    assert _run(delivery) == {"problems": 0}

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PROCESSED, 1)
    assert _run(delivery) == {"not_waiting": 1}
    delivery.refresh_from_db()
    assert delivery.attempts == 1


@pytest.mark.usefixtures("poison")
def test_a_failing_delivery_is_failed_after_the_last_attempt_and_never_requeued(
    app: MetaApp, published: list[tuple[object, ...]], caplog: pytest.LogCaptureFixture
) -> None:
    delivery = _delivery(app)
    failed_before = metric_value("gateway_webhook_deliveries_failed")

    with caplog.at_level(logging.WARNING):
        assert [_run(delivery) for _ in range(2)] == [{"attempt_failed": 1}] * 2
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.RECEIVED, 2)
        assert deliveries_requeue_stale(older_than=timedelta(minutes=2)) == 1  # still worth another try

        assert _run(delivery) == {"failed": 1}

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 3)
    assert metric_value("gateway_webhook_deliveries_failed") == failed_before + 1
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert [record.getMessage() for record in errors] == ["webhook delivery failed, not retried again"]
    assert errors[0].error == "KeyError" and errors[0].attempts == 3  # type: ignore[attr-defined]
    assert CANARY not in caplog.text
    published.clear()
    assert deliveries_requeue_stale(older_than=timedelta(minutes=2)) == 0
    assert published == []
    assert _run(delivery) == {"not_waiting": 1}


@pytest.mark.usefixtures("poison")
def test_celery_retries_of_one_attempt_are_not_counted_again(app: MetaApp) -> None:
    delivery = _delivery(app)
    _run(delivery)

    assert _run(delivery, retries=1) == {"attempt_failed": 1}

    delivery.refresh_from_db()
    assert delivery.attempts == 1


def test_the_sweeper_fails_deliveries_that_used_every_attempt_without_finishing(
    app: MetaApp, published: list[tuple[object, ...]], settings: Any
) -> None:
    """A run that killed its worker never reached the except clause: the sweeper dead-letters it instead."""
    crashed = _delivery(app)
    running = _delivery(app)
    waiting = _delivery(app)
    long_ago = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    Delivery.objects.filter(pk=crashed.pk).update(attempts=3, updated_at=long_ago)
    Delivery.objects.filter(pk=running.pk).update(attempts=3, updated_at=timezone.now())  # its last run may go on
    Delivery.objects.filter(pk=waiting.pk).update(attempts=2, updated_at=long_ago)

    assert deliveries_sweep_task() == {"failed": 1, "requeued": 1}

    statuses = dict(Delivery.objects.values_list("pk", "status"))
    assert statuses == {
        crashed.pk: DeliveryStatus.FAILED,
        running.pk: DeliveryStatus.RECEIVED,
        waiting.pk: DeliveryStatus.RECEIVED,
    }
    assert published == [(waiting.pk,)]
    assert deliveries_fail_exhausted(older_than=timedelta(minutes=2)) == 0


def test_the_admin_requeues_failed_deliveries_only_and_audits_it(
    operator_client: Client, app: MetaApp, tenant_a: Tenant, published: list[tuple[object, ...]]
) -> None:
    failed = _delivery(app)
    processed = _delivery(app)
    Delivery.objects.filter(pk=failed.pk).update(status=DeliveryStatus.FAILED, attempts=3)
    Delivery.objects.filter(pk=processed.pk).update(status=DeliveryStatus.PROCESSED, attempts=1)

    response = operator_client.post(
        reverse("admin:webhooks_delivery_changelist"),
        {"action": "requeue_failed", "_selected_action": [str(failed.pk), str(processed.pk)]},
        follow=True,
    )

    page = response.content.decode()
    assert "Requeued 1 failed delivery." in page and "Left 1 alone" in page
    assert dict(Delivery.objects.values_list("pk", "status")) == {
        failed.pk: DeliveryStatus.RECEIVED,
        processed.pk: DeliveryStatus.PROCESSED,
    }
    assert Delivery.objects.get(pk=failed.pk).attempts == 0
    assert published == [(failed.pk,)]
    event = AuditEvent.objects.get(action=AuditAction.DELIVERY_REQUEUED)
    assert (event.tenant_id, event.target_id, event.details) == (
        tenant_a.pk,
        str(failed.pk),
        {"previous_attempts": 3},
    )


def test_staff_who_may_only_view_deliveries_cannot_requeue(
    tenant_a: Tenant, app: MetaApp, published: list[tuple[object, ...]]
) -> None:
    """An auditor views the tenant's deliveries; a Django permission to change them grants nothing more."""
    auditor = User.objects.create_user("auditor@a.example", PASSWORD, is_staff=True)
    Membership.objects.create(tenant=tenant_a, user=auditor, role=Role.AUDITOR)
    auditor.user_permissions.add(Permission.objects.get(codename="change_delivery"))
    client = Client()
    client.force_login(auditor)
    verify_session(client, totp_device_provision(user=auditor))
    failed = _delivery(app)
    Delivery.objects.filter(pk=failed.pk).update(status=DeliveryStatus.FAILED)
    changelist = reverse("admin:webhooks_delivery_changelist")

    assert "requeue_failed" not in client.get(changelist).content.decode()
    client.post(changelist, {"action": "requeue_failed", "_selected_action": [str(failed.pk)]})

    assert Delivery.objects.get().status == DeliveryStatus.FAILED
    assert published == []
