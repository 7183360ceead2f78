"""The audit admin is read-only: superusers may look; nobody may add, change or delete, one by one or in bulk."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.db.models import Model
from django.http import HttpRequest
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.admin_filters import TenantIdFilter
from accounts.models import User
from audit.admin import ActionFilter, ActorFilter, AuditChainHeadAdmin, AuditEventAdmin
from audit.models import AuditAction, AuditChainHead, AuditEvent
from audit.services import audit_record

MODELS = [AuditEvent, AuditChainHead]


def _request(user: User) -> HttpRequest:
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


@pytest.fixture
def superuser(db: None) -> User:
    return User.objects.create_superuser("root@gateway.example", "correct horse battery staple")


@pytest.fixture
def staff(db: None) -> User:
    return User.objects.create_user("staff@gateway.example", "correct horse battery staple", is_staff=True)


def test_both_models_are_registered_with_the_read_only_admins() -> None:
    """The accounts app scopes the event list by tenant membership; the chain heads are the operator's."""
    assert isinstance(admin.site._registry[AuditEvent], AuditEventAdmin)
    assert isinstance(admin.site._registry[AuditChainHead], AuditChainHeadAdmin)


@pytest.mark.parametrize("model", MODELS)
def test_a_superuser_may_view_but_not_add_change_or_delete(model: type[Model], superuser: User) -> None:
    model_admin = admin.site._registry[model]
    request = _request(superuser)
    event = audit_record(action=AuditAction.LOGIN_FAILED, tenant_id=None)
    row = event if model is AuditEvent else AuditChainHead.objects.get()

    assert [model_admin.has_view_permission(request), model_admin.has_view_permission(request, row)] == [True, True]
    assert model_admin.has_add_permission(request) is False
    assert [model_admin.has_change_permission(request), model_admin.has_change_permission(request, row)] == [False] * 2
    assert [model_admin.has_delete_permission(request), model_admin.has_delete_permission(request, row)] == [False] * 2
    assert model_admin.get_actions(request) == {}


@pytest.mark.parametrize("model", MODELS)
def test_staff_without_superuser_see_nothing_even_with_the_view_permission(model: type[Model], staff: User) -> None:
    model_admin = admin.site._registry[model]
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="audit"))
    request = _request(User.objects.get(pk=staff.pk))  # a fresh instance: permissions are cached per object

    assert request.user.has_perm(f"audit.view_{model._meta.model_name}") is True
    assert (model_admin.has_module_permission(request), model_admin.has_view_permission(request)) == (False, False)


def test_the_event_list_shows_the_agreed_columns_filters_and_search() -> None:
    model_admin = admin.site._registry[AuditEvent]

    assert model_admin.list_display == ("occurred_at", "action_name", "actor_label", "target", "tenant_name", "seq")
    assert model_admin.list_filter == [ActionFilter, ActorFilter, TenantIdFilter]
    assert model_admin.search_fields == ("=target_id", "actor_label")
    assert (model_admin.ordering, model_admin.date_hierarchy) == (("-occurred_at", "-seq"), "occurred_at")


@pytest.mark.django_db
def test_through_the_admin_a_verified_operator_can_list_and_read_but_not_change(operator_client: Client) -> None:
    event = audit_record(
        action=AuditAction.API_KEY_ISSUED, tenant_id=None, actor_label="alice", target_type="api_key", target_id="k1"
    )
    changelist = reverse("admin:audit_auditevent_changelist")
    change = reverse("admin:audit_auditevent_change", args=[event.pk])
    delete = reverse("admin:audit_auditevent_delete", args=[event.pk])

    listed = operator_client.get(changelist, {"q": "k1"})
    read = operator_client.get(change)
    posted = operator_client.post(change, {"actor_label": "mallory"})
    deleted = operator_client.post(delete, {"post": "yes"})
    added = operator_client.get(reverse("admin:audit_auditevent_add"))

    assert (listed.status_code, read.status_code) == (200, 200)
    assert "api_key k1" in listed.content.decode()
    assert (posted.status_code, deleted.status_code, added.status_code) == (403, 403, 403)
    assert AuditEvent.objects.get(pk=event.pk).actor_label == "alice"
