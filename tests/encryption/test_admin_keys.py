"""The key store admin: superusers may look at keys' metadata; nobody may add, change or delete; key material
(wrapped keys, canaries) never reaches a page."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.contrib import admin
from django.db import models, transaction
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from accounts.mfa import totp_device_provision
from accounts.models import Tenant, User
from encryption import keyring
from encryption.models import OPERATOR, DataKey, KeyEncryptionKey, KeyState, Purpose
from tests.conftest import PASSWORD, verify_session

pytestmark = pytest.mark.django_db

KEY_MODELS = [KeyEncryptionKey, DataKey]
RECEIPT = {"key_id": 0, "canary_opens": False, "rows_still_referencing": 0, "wrapped_key_sha256": "ab" * 32}


def data_key(owner: str, purpose: str, scope: str) -> DataKey:
    with transaction.atomic():
        return keyring.data_key_active(owner=owner, purpose=purpose, scope=scope)


@pytest.fixture
def keys(tenant_a: Tenant, tenant_b: Tenant) -> dict[str, DataKey]:
    created = {
        "content_a": data_key(str(tenant_a.pk), Purpose.CONTENT, "2030-01-01"),
        "subject_b": data_key(str(tenant_b.pk), Purpose.SUBJECT, "contact-1"),
        "secret_operator": data_key(OPERATOR, Purpose.SECRET, ""),
        "destroyed_a": data_key(str(tenant_a.pk), Purpose.CONTENT, "2029-12-31"),
    }
    destroyed = created["destroyed_a"]
    DataKey.objects.filter(pk=destroyed.pk).update(
        state=KeyState.DESTROYED,
        wrapped_key=None,
        destroyed_at=timezone.now() - timedelta(days=1),
        receipt={**RECEIPT, "key_id": destroyed.pk},
    )
    return created


def key_material() -> list[bytes]:
    """Every wrapped key and canary in the store, as it was before any page was rendered."""
    kek_blobs = [bytes(blob) for blob in KeyEncryptionKey.objects.values_list("wrapped_key", flat=True)]
    data_key_blobs = [
        bytes(blob)
        for pair in DataKey.objects.values_list("wrapped_key", "canary")
        for blob in pair
        if blob is not None
    ]
    return [blob for blob in kek_blobs + data_key_blobs if blob]


def byte_forms(blob: bytes) -> list[bytes]:
    text = blob.decode("latin-1")
    blob_repr = repr(blob)[2:-1]
    return [
        blob,
        blob.hex().encode(),
        blob.hex().upper().encode(),
        text.encode(),
        escape(text).encode(),
        base64.b64encode(blob),
        blob_repr.encode(),
        escape(blob_repr).encode(),
    ]


def assert_no_key_material(content: bytes, material: list[bytes]) -> None:
    for blob in material:
        for form in byte_forms(blob):
            assert form not in content


def admin_url(model: type[models.Model], view: str, *args: object) -> str:
    return reverse(f"admin:encryption_{model._meta.model_name}_{view}", args=args)


def test_key_store_pages_answer_200_and_show_no_key_material(operator_client: Client, keys: dict[str, DataKey]) -> None:
    material = key_material()
    urls = [admin_url(model, "changelist") for model in KEY_MODELS]
    urls += [admin_url(KeyEncryptionKey, "change", kek.pk) for kek in KeyEncryptionKey.objects.all()]
    urls += [admin_url(DataKey, "change", key.pk) for key in DataKey.objects.all()]

    assert len(material) == 3 + 2 * 4 - 1  # three KEKs; four canaries; three wrapped data keys (one destroyed)
    for url in urls:
        response = operator_client.get(url)
        assert response.status_code == 200, url
        assert_no_key_material(response.content, material)


def test_data_key_list_shows_metadata_columns_and_filters(operator_client: Client, keys: dict[str, DataKey]) -> None:
    response = operator_client.get(admin_url(DataKey, "changelist"))

    changelist = response.context["cl"]
    assert list(changelist.list_display) == [
        "id",
        "owner",
        "purpose",
        "scope",
        "version",
        "state",
        "created_at",
        "destroy_after",
        "destroyed_at",
    ]
    assert [spec.title for spec in changelist.filter_specs] == ["owner", "purpose", "state"]
    assert [key.pk for key in changelist.result_list] == sorted((key.pk for key in keys.values()), reverse=True)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("purpose__exact=subject", ["subject_b"]),
        ("state__exact=destroyed", ["destroyed_a"]),
        (f"owner={OPERATOR}", ["secret_operator"]),
    ],
)
def test_data_key_filters(operator_client: Client, keys: dict[str, DataKey], query: str, expected: list[str]) -> None:
    response = operator_client.get(f"{admin_url(DataKey, 'changelist')}?{query}")

    assert [key.pk for key in response.context["cl"].result_list] == [keys[name].pk for name in expected]


def test_kek_list_filters_by_owner(operator_client: Client, keys: dict[str, DataKey], tenant_b: Tenant) -> None:
    response = operator_client.get(f"{admin_url(KeyEncryptionKey, 'changelist')}?owner={tenant_b.pk}")

    changelist = response.context["cl"]
    assert [spec.title for spec in changelist.filter_specs] == ["owner", "state"]
    assert [(kek.owner, kek.version) for kek in changelist.result_list] == [(str(tenant_b.pk), 1)]


def test_destroyed_key_shows_its_receipt(operator_client: Client, keys: dict[str, DataKey]) -> None:
    destroyed = keys["destroyed_a"]

    response = operator_client.get(admin_url(DataKey, "change", destroyed.pk))

    receipt = {**RECEIPT, "key_id": destroyed.pk}
    assert escape(json.dumps(receipt, indent=2, sort_keys=True)) in response.content.decode()


@pytest.mark.parametrize("model", KEY_MODELS)
def test_nobody_may_add_change_or_delete_keys(
    model: type[models.Model], operator: User, keys: dict[str, DataKey]
) -> None:
    request = RequestFactory().get("/")
    request.user = operator
    model_admin = admin.site._registry[model]
    row = model._default_manager.first()

    assert model_admin.has_view_permission(request, row) is True
    assert model_admin.has_add_permission(request) is False
    assert model_admin.has_change_permission(request, row) is False
    assert model_admin.has_delete_permission(request, row) is False


@pytest.mark.parametrize("model", KEY_MODELS)
def test_add_change_and_delete_urls_are_refused(
    model: type[models.Model], operator_client: Client, keys: dict[str, DataKey]
) -> None:
    row = model._default_manager.first()
    assert row is not None
    count = model._default_manager.count()

    assert operator_client.get(admin_url(model, "add")).status_code == 403
    assert operator_client.post(admin_url(model, "add"), {"owner": "x"}).status_code == 403
    assert operator_client.post(admin_url(model, "change", row.pk), {"state": KeyState.DESTROYED}).status_code == 403
    assert operator_client.post(admin_url(model, "delete", row.pk), {"post": "yes"}).status_code == 403
    assert model._default_manager.count() == count
    assert model._default_manager.filter(pk=row.pk, state=KeyState.ACTIVE).exists()


@pytest.mark.parametrize("model", KEY_MODELS)
def test_staff_who_are_not_superusers_cannot_see_keys(model: type[models.Model], keys: dict[str, DataKey]) -> None:
    staff = User.objects.create_user("staff@gateway.example", PASSWORD, is_staff=True)
    client = Client()
    client.force_login(staff)
    verify_session(client, totp_device_provision(user=staff))

    assert client.get(admin_url(model, "changelist")).status_code == 403
