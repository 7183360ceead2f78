"""Retention policies in the admin: a fresh step-up for every change, the services' validation (errors shown,
nothing saved), and one audit event per saved change."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant, TotpDevice, User
from audit.models import AuditAction, AuditEvent
from messaging.models import Channel
from policies.models import PurgeCount, PurgeRun, RetentionPolicy
from policies.retention.services import retention_policy_update
from tests.admin_pages import changelist_cells, changelist_count
from tests.conftest import verify_session

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("installation_limits")]
ADD = "/admin/policies/retentionpolicy/add/"


def _form(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "content_max_days": "30",
        "content_days_after_delivery": "",
        "disappearing_seconds_after_read": "",
        "metadata_days": "400",
        "raw_delivery_days": "3",
        "media_days": "30",
        "audit_days": "2555",
        "_save": "Save",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def _events() -> int:
    return AuditEvent.objects.filter(action=AuditAction.POLICY_CHANGED).count()


def _stale_client(user: User, device: TotpDevice) -> Client:
    client = Client()
    client.force_login(user)
    verify_session(client, device, verified_seconds_ago=3600)
    return client


def test_adding_a_tenant_policy_goes_through_the_service_and_is_audited(
    operator_client: Client, tenant_a: Tenant
) -> None:
    response = operator_client.post(ADD, _form(tenant=tenant_a.pk, purge_content_on_delivery="on"))

    assert response.status_code == 302
    policy = RetentionPolicy.objects.get()
    assert (policy.tenant, policy.channel, policy.content_max_days, policy.purge_content_on_delivery) == (
        tenant_a,
        None,
        30,
        True,
    )
    event = AuditEvent.objects.get(action=AuditAction.POLICY_CHANGED)
    assert (event.tenant_id, event.actor_label, event.target_id) == (
        tenant_a.pk,
        "operator@gateway.example",
        str(policy.pk),
    )
    assert (event.details["content_max_days.before"], event.details["content_max_days.after"]) == (365, 30)
    assert response["Location"] == "/admin/policies/retentionpolicy/"


def test_invalid_values_show_the_rules_on_the_form_and_nothing_is_saved(
    operator_client: Client, tenant_a: Tenant
) -> None:
    response = operator_client.post(
        ADD, _form(tenant=tenant_a.pk, metadata_days="20", disappearing_seconds_after_read="2")
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "Metadata must outlive content and media: at least the maximum content lifetime (30 days); got 20." in page
    assert "Must be between 5 and 2592000 seconds (30 days), or empty; got 2." in page
    assert not RetentionPolicy.objects.exists() and _events() == 0


def test_an_override_for_another_tenants_channel_is_refused(
    operator_client: Client, tenant_a: Tenant, channel_b: Channel
) -> None:
    response = operator_client.post(ADD, _form(tenant=tenant_a.pk, channel=channel_b.pk))

    assert response.status_code == 200
    assert "This channel belongs to another tenant." in response.content.decode()
    assert not RetentionPolicy.objects.exists() and _events() == 0


def test_changing_a_policy_is_audited_with_before_and_after(operator_client: Client, tenant_a: Tenant) -> None:
    policy = retention_policy_update(tenant=tenant_a, actor=CLI_ACTOR, values={"content_max_days": 30})
    url = reverse("admin:policies_retentionpolicy_change", args=[policy.pk])

    response = operator_client.post(url, _form(content_max_days="20", media_days="20"))

    assert response.status_code == 302
    policy.refresh_from_db()
    assert (policy.content_max_days, policy.media_days, policy.raw_delivery_days, policy.metadata_days) == (
        20,
        20,
        3,
        400,
    )
    event = AuditEvent.objects.filter(action=AuditAction.POLICY_CHANGED).order_by("-seq").first()
    assert event is not None and event.details["created"] is False
    assert (event.details["content_max_days.before"], event.details["content_max_days.after"]) == (30, 20)
    assert (event.details["raw_delivery_days.before"], event.details["raw_delivery_days.after"]) == (7, 3)


def test_every_change_needs_a_fresh_step_up(
    operator: User, operator_device: TotpDevice, tenant_a: Tenant, channel_a: Channel
) -> None:
    override = retention_policy_update(
        tenant=tenant_a, channel=channel_a, actor=CLI_ACTOR, values={"content_max_days": 30}
    )
    client = _stale_client(operator, operator_device)
    change = reverse("admin:policies_retentionpolicy_change", args=[override.pk])
    delete = reverse("admin:policies_retentionpolicy_delete", args=[override.pk])

    for url, data in (
        (ADD, _form(tenant=tenant_a.pk)),
        (change, _form(content_max_days="5")),
        (delete, {"post": "yes"}),
    ):
        response = client.post(url, data)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:step_up"))

    override.refresh_from_db()
    assert override.content_max_days == 30
    assert RetentionPolicy.objects.count() == 1 and _events() == 1


def test_an_override_is_deleted_through_the_service_and_a_tenant_policy_never(
    operator_client: Client, tenant_a: Tenant, channel_a: Channel
) -> None:
    tenant_policy = retention_policy_update(tenant=tenant_a, actor=CLI_ACTOR, values={"content_max_days": 30})
    override = retention_policy_update(
        tenant=tenant_a, channel=channel_a, actor=CLI_ACTOR, values={"content_max_days": 10}
    )

    refused = operator_client.post(
        reverse("admin:policies_retentionpolicy_delete", args=[tenant_policy.pk]), {"post": "yes"}
    )
    deleted = operator_client.post(
        reverse("admin:policies_retentionpolicy_delete", args=[override.pk]), {"post": "yes"}
    )

    assert refused.status_code == 403
    assert deleted.status_code == 302
    assert list(RetentionPolicy.objects.values_list("pk", flat=True)) == [tenant_policy.pk]
    removal = AuditEvent.objects.filter(action=AuditAction.POLICY_CHANGED).order_by("-seq").first()
    assert removal is not None and removal.details["deleted"] is True


def test_the_changelist_lists_tenant_policies_and_overrides(
    operator_client: Client, tenant_a: Tenant, channel_a: Channel
) -> None:
    retention_policy_update(tenant=tenant_a, actor=CLI_ACTOR, values={"content_max_days": 30})
    retention_policy_update(tenant=tenant_a, channel=channel_a, actor=CLI_ACTOR, values={"content_max_days": 10})

    response = operator_client.get("/admin/policies/retentionpolicy/")
    page = response.content.decode()

    assert changelist_count(response) == 2
    assert "Line 106540352242922" in page


def test_purge_runs_are_listed_with_their_counts_and_cannot_be_changed(
    operator_client: Client, tenant_a: Tenant
) -> None:
    run = PurgeRun.objects.create(started_at=timezone.now(), finished_at=timezone.now(), complete=True)
    PurgeCount.objects.create(run=run, tenant_id=tenant_a.pk, kind="content", count=7)
    PurgeCount.objects.create(run=run, tenant_id=tenant_a.pk, kind="metadata", count=2)

    listing = operator_client.get("/admin/policies/purgerun/").content.decode()
    detail = operator_client.get(f"/admin/policies/purgerun/{run.pk}/change/").content.decode()

    assert changelist_cells(listing, "removed") == ["9"]
    assert "content" in detail and "metadata" in detail and str(tenant_a.pk) in detail
    assert operator_client.get("/admin/policies/purgerun/add/").status_code == 403
    assert operator_client.post(f"/admin/policies/purgerun/{run.pk}/delete/", {"post": "yes"}).status_code == 403
    assert PurgeRun.objects.filter(pk=run.pk).exists()
