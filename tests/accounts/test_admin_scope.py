"""The admin is scoped by tenant membership and role: every registered ModelAdmin and every admin URL, with two
tenants holding a row of every model, for each role of tenant A's staff. Tenant B's rows are never listed, and
any URL naming one is a 404; tenant A's rows are visible as the role matrix (docs/admin-roles.md) says."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.contrib.admin.options import ModelAdmin
from django.contrib.auth.models import Permission
from django.db.models import Model
from django.test import Client, RequestFactory
from django.urls import URLPattern, reverse

from accounts.admin_encrypted import EncryptedFieldsAdminMixin
from accounts.admin_scope import OPERATOR_ONLY_MODELS, TenantScopedAdmin
from accounts.admin_site import GatewayAdminSite
from accounts.mfa import totp_device_provision
from accounts.models import ApiKey, BackupCode, Membership, Role, Tenant, User
from audit.models import AuditAction, AuditEvent
from events.models import Endpoint, EventDelivery
from messaging.models import Channel, ChannelAlert, ChannelStatus, Contact, Message, QuarantinedItem
from messaging.outbound.dispatch.channels import channel_pause
from policies.models import LegalHold, RetentionPolicy, SubjectExport
from policies.retention.validation import POLICY_FIELDS
from tests.accounts.admin_rows import Rows, operator_rows, staff_create, tenant_rows
from tests.admin_pages import changelist_count
from tests.conftest import PASSWORD, verify_session
from tests.testapp.models import Note

pytestmark = pytest.mark.django_db

REASON = "Ticket 4711: the customer asks what we stored"
ALL_ROLES = frozenset(Role)
MANAGERS = frozenset({Role.OWNER, Role.ADMIN})
OVERSIGHT = frozenset({Role.OWNER, Role.ADMIN, Role.AUDITOR})
NOBODY: frozenset[Role] = frozenset()
NO_MEMBERSHIP = "none"

# Who sees a model's rows of their own tenant, written here independently of the implementation's matrix.
EXPECTED_VIEW: dict[str, frozenset[Role]] = {
    "accounts.tenant": ALL_ROLES,
    "accounts.user": OVERSIGHT,
    "accounts.membership": OVERSIGHT,
    "accounts.apikey": OVERSIGHT,
    "accounts.totpdevice": NOBODY,
    "accounts.backupcodedevice": NOBODY,
    "auth.group": NOBODY,
    "audit.auditevent": OVERSIGHT,
    "audit.auditchainhead": NOBODY,
    "encryption.keyencryptionkey": NOBODY,
    "encryption.datakey": NOBODY,
    "messaging.metaapp": ALL_ROLES,
    "messaging.channel": ALL_ROLES,
    "messaging.channelevent": ALL_ROLES,
    "messaging.channelalert": ALL_ROLES,
    "messaging.messagetemplate": ALL_ROLES,
    "messaging.contact": ALL_ROLES,
    "messaging.conversation": ALL_ROLES,
    "messaging.message": ALL_ROLES,
    "messaging.parkedstatus": ALL_ROLES,
    "messaging.parkedreceipt": ALL_ROLES,
    "messaging.quarantineditem": OVERSIGHT,
    "webhooks.delivery": OVERSIGHT,
    "policies.retentionpolicy": OVERSIGHT,
    "policies.purgerun": NOBODY,
    "policies.legalhold": OVERSIGHT,
    "policies.subjectexport": OVERSIGHT,
    "policies.erasuretombstone": OVERSIGHT,
    "testapp.note": ALL_ROLES,
    "events.endpoint": OVERSIGHT,
    "events.event": OVERSIGHT,
    "events.deliveryattempt": OVERSIGHT,
    "audit.securityalert": OVERSIGHT,
    "audit.thresholdoverride": OVERSIGHT,
}
CONTENT_REVEAL = frozenset({Role.OWNER, Role.ADMIN, Role.AGENT})
EXPECTED_REVEAL: dict[str, frozenset[Role]] = {
    "messaging.message": CONTENT_REVEAL,
    "messaging.contact": CONTENT_REVEAL,
    "testapp.note": CONTENT_REVEAL,
    "webhooks.delivery": MANAGERS,
    "messaging.quarantineditem": MANAGERS,
    "messaging.metaapp": NOBODY,
    "messaging.channel": NOBODY,
    "events.endpoint": NOBODY,
}
ROLES = [Role.OWNER, Role.ADMIN, Role.AGENT, Role.AUDITOR, NO_MEMBERSHIP]


@dataclass
class World:
    tenant_a: Tenant
    tenant_b: Tenant
    rows_a: Rows
    rows_b: Rows
    shared: Rows
    staff: dict[str, User]


@pytest.fixture
def world(tenant_a: Tenant, tenant_b: Tenant) -> World:
    rows_a = tenant_rows(tenant_a, "106540352242922", "16505551234")
    rows_b = tenant_rows(tenant_b, "2002002002", "16505554321")
    staff: dict[str, User] = {Role.OWNER.value: User.objects.get(email="owner@tenant-a.example")}
    for role in (Role.ADMIN, Role.AGENT, Role.AUDITOR):
        staff[role.value] = staff_create(tenant_a, role)
    staff[NO_MEMBERSHIP] = User.objects.create_user("nobody@gateway.example", PASSWORD, is_staff=True)
    views = Permission.objects.filter(codename__startswith="view_")
    for name, user in staff.items():
        if name != Role.OWNER:
            user.user_permissions.set(views)
    return World(tenant_a, tenant_b, rows_a, rows_b, operator_rows(), staff)


def verified_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    verify_session(client, totp_device_provision(user=user))
    return client


def change_url(row: Model) -> str:
    return reverse(f"admin:{row._meta.app_label}_{row._meta.model_name}_change", args=[row.pk])


def object_urls(model_admin: ModelAdmin, row: Model) -> list[str]:  # type: ignore[type-arg]
    """Every URL of the model's admin that names an object, this row's id filled in (custom views included)."""
    urls = []
    for pattern in model_admin.get_urls():
        assert isinstance(pattern, URLPattern)
        parameters = list(pattern.pattern.converters)
        if not parameters:
            continue
        assert len(parameters) == 1, pattern
        value = str(row.pk)
        route = str(pattern.pattern).replace(f"<path:{parameters[0]}>", value).replace(f"<uuid:{parameters[0]}>", value)
        urls.append(f"/admin/{row._meta.app_label}/{row._meta.model_name}/{route}")
    return urls


def forbidden_markers(world: World) -> list[str]:
    """What must never appear on a page shown to tenant A's staff: B's names, ids and change links."""
    markers = ["Tenant B", "tenant-b", "owner@tenant-b.example", str(world.tenant_b.pk)]
    for rows in (world.rows_b.by_model, world.shared.by_model):
        for models in rows.values():
            for row in models:
                markers.append(change_url(row))
                if isinstance(row.pk, uuid.UUID):
                    markers.append(str(row.pk))
    return markers


def registry() -> dict[str, ModelAdmin]:  # type: ignore[type-arg]
    return {model._meta.label_lower: model_admin for model, model_admin in admin.site._registry.items()}


def role_of(role: str) -> Role | None:
    return None if role == NO_MEMBERSHIP else Role(role)


# --- the registry ----------------------------------------------------------------------------------------------


def test_every_registered_admin_is_tenant_scoped_or_declared_operator_only() -> None:
    for label, model_admin in registry().items():
        declared = isinstance(model_admin, TenantScopedAdmin) or label in OPERATOR_ONLY_MODELS
        assert declared, f"{label}: neither tenant-scoped nor declared operator-only"
        if isinstance(model_admin, TenantScopedAdmin):
            assert label not in OPERATOR_ONLY_MODELS, label
            assert model_admin.scope_area, label


def test_the_expected_matrix_and_the_fixture_cover_every_registered_model(world: World) -> None:
    assert set(EXPECTED_VIEW) == set(registry())
    tenant_models = {label for label in registry() if label not in ("auth.group", "policies.purgerun")}
    assert tenant_models <= set(world.rows_b.by_model)
    assert set(registry()) <= set(world.rows_a.by_model) | set(world.shared.by_model)


# --- every changelist, every object URL, for each role -------------------------------------------------------------


def assert_changelists_follow_the_matrix(world: World, client: Client, role: Role | None) -> None:
    markers = forbidden_markers(world)
    for label, model_admin in registry().items():
        opts = model_admin.opts
        response = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        may_view = role in EXPECTED_VIEW[label]
        assert response.status_code == (200 if may_view else 403), (label, response.status_code)
        page = response.content.decode()
        assert [marker for marker in markers if marker in page] == [], label
        if may_view:
            assert change_url(world.rows_a.first(label)) in page, label


def assert_other_tenants_object_urls_are_404(world: World, client: Client) -> None:
    checked = 0
    for label, model_admin in registry().items():
        for row in [*world.rows_b.by_model.get(label, []), *world.shared.by_model.get(label, [])]:
            for url in object_urls(model_admin, row):
                get = client.get(url, follow=True)
                post = client.post(url, {"post": "yes", "field_names": ["content"], "reason": REASON}, follow=True)
                assert (get.status_code, post.status_code) == (404, 404), (url, get.status_code, post.status_code)
                checked += 1
    assert checked > 4 * len(registry())
    assert AuditEvent.objects.filter(action=AuditAction.CONTENT_REVEALED).count() == 0


def assert_own_rows_open_per_the_matrix(world: World, client: Client, role: Role | None) -> None:
    for label in registry():
        if label not in world.rows_a.by_model:
            continue
        response = client.get(change_url(world.rows_a.first(label)))
        expected = {200} if role in EXPECTED_VIEW[label] else {403, 404}
        assert response.status_code in expected, (label, response.status_code)


def assert_the_index_lists_what_the_role_may_see(client: Client, role: Role | None) -> None:
    response = client.get(reverse("admin:index"))

    assert response.status_code == 200
    app_list = response.context["app_list"]
    listed = {f"{app['app_label']}.{model['object_name'].lower()}" for app in app_list for model in app["models"]}
    assert listed == {label for label, roles in EXPECTED_VIEW.items() if role in roles}


def assert_reveal_follows_the_matrix(world: World, client: Client, role: Role | None) -> None:
    for label, roles in EXPECTED_REVEAL.items():
        model_admin = registry()[label]
        assert isinstance(model_admin, EncryptedFieldsAdminMixin)
        url = change_url(world.rows_a.first(label)).removesuffix("change/") + "reveal/"
        before = AuditEvent.objects.filter(action=AuditAction.CONTENT_REVEALED).count()
        chosen = next(iter(model_admin.encrypted_fields_by_name))
        response = client.post(url, {"field_names": [chosen], "reason": REASON})
        revealed = AuditEvent.objects.filter(action=AuditAction.CONTENT_REVEALED).count() - before
        if role in roles:
            assert (response.status_code, revealed) == (200, 1), label
        else:
            assert (response.status_code in (403, 404), revealed) == (True, 0), (label, response.status_code)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_and_reaches_only_what_the_matrix_gives_it(world: World, role: str) -> None:
    """Staff other than the owner also hold every Django ``view_*`` permission: they must grant nothing."""
    client = verified_client(world.staff[role])

    assert_changelists_follow_the_matrix(world, client, role_of(role))
    assert_other_tenants_object_urls_are_404(world, client)
    assert_own_rows_open_per_the_matrix(world, client, role_of(role))
    assert_the_index_lists_what_the_role_may_see(client, role_of(role))
    assert_reveal_follows_the_matrix(world, client, role_of(role))


def test_the_operator_sees_every_tenants_rows(world: World, operator: User) -> None:
    client = verified_client(operator)
    for label, model_admin in registry().items():
        opts = model_admin.opts
        page = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")).content.decode()
        for rows in (world.rows_a, world.rows_b):
            if label in rows.by_model:
                assert change_url(rows.first(label)) in page, label


# --- actions on another tenant's rows do nothing --------------------------------------------------------------------


def test_actions_on_another_tenants_rows_change_nothing(world: World) -> None:
    client = verified_client(world.staff[Role.OWNER])
    b = world.rows_b
    actions = [
        ("accounts/apikey", "revoke_keys", b.first("accounts.apikey")),
        ("policies/legalhold", "release_holds", b.first("policies.legalhold")),
        ("messaging/contact", "erase_contacts", b.first("messaging.contact")),
        ("messaging/contact", "export_contacts", b.first("messaging.contact")),
        ("messaging/quarantineditem", "replay", b.first("messaging.quarantineditem")),
        ("webhooks/delivery", "requeue_failed", b.first("webhooks.delivery")),
        ("accounts/membership", "delete_selected", b.first("accounts.membership")),
        ("events/endpoint", "send_test_event", b.first("events.endpoint")),
        ("events/endpoint", "replay_last_day", b.first("events.endpoint")),
        ("events/endpoint", "rotate_secret", b.first("events.endpoint")),
        ("events/endpoint", "delete_selected", b.first("events.endpoint")),
    ]
    endpoint_b = Endpoint.objects.get(pk=b.first("events.endpoint").pk)
    deliveries_before = EventDelivery.objects.count()
    exports_before = SubjectExport.objects.count()
    for path, action, row in actions:
        payload = {"action": action, "_selected_action": [str(row.pk)], "confirm": "yes", "post": "yes"}
        client.post(f"/admin/{path}/", payload)

    assert ApiKey.objects.get(pk=b.first("accounts.apikey").pk).revoked_at is None
    assert LegalHold.objects.get(pk=b.first("policies.legalhold").pk).released_at is None
    assert Contact.objects.filter(pk=b.first("messaging.contact").pk).exists()
    assert SubjectExport.objects.count() == exports_before
    assert QuarantinedItem.objects.get(pk=b.first("messaging.quarantineditem").pk).replayed_at is None
    assert Membership.objects.filter(pk=b.first("accounts.membership").pk).exists()
    assert Endpoint.objects.get(pk=endpoint_b.pk).secret == endpoint_b.secret
    assert EventDelivery.objects.count() == deliveries_before
    assert not AuditEvent.objects.filter(tenant_id=world.tenant_b.pk, actor_id=world.staff[Role.OWNER].pk).exists()


def test_an_auditor_cannot_act_on_own_rows(world: World) -> None:
    client = verified_client(world.staff[Role.AUDITOR])
    key = world.rows_a.first("accounts.apikey")
    hold = world.rows_a.first("policies.legalhold")

    client.post("/admin/accounts/apikey/", {"action": "revoke_keys", "_selected_action": [str(key.pk)]})
    client.post("/admin/policies/legalhold/", {"action": "release_holds", "_selected_action": [str(hold.pk)]})
    policy = world.rows_a.first("policies.retentionpolicy")
    response = client.post(change_url(policy), {"content_max_days": 5})

    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
    assert LegalHold.objects.get(pk=hold.pk).released_at is None
    assert response.status_code == 403
    assert RetentionPolicy.objects.get(pk=policy.pk).content_max_days == 30


# --- choices on add forms are the user's tenants ---------------------------------------------------------------------


ADD_FORMS = [
    "/admin/accounts/apikey/add/",
    "/admin/messaging/metaapp/add/",
    "/admin/messaging/channel/add/",
    "/admin/policies/legalhold/add/",
    "/admin/policies/retentionpolicy/add/",
    "/admin/events/endpoint/add/",
]


@pytest.mark.parametrize("url", ADD_FORMS)
def test_add_forms_offer_only_the_users_own_tenant(world: World, url: str) -> None:
    page = verified_client(world.staff[Role.OWNER]).get(url)

    assert page.status_code == 200
    html = page.content.decode()
    assert str(world.tenant_a.pk) in html
    assert [marker for marker in forbidden_markers(world) if marker in html] == []


def test_a_key_for_another_tenant_is_refused_and_one_for_the_own_tenant_issued(world: World) -> None:
    client = verified_client(world.staff[Role.ADMIN])
    form = {"name": "CRM", "scopes": ["keys:read"], "days": 30}
    before = ApiKey.objects.filter(tenant=world.tenant_b).count()

    refused = client.post("/admin/accounts/apikey/add/", {**form, "tenant": world.tenant_b.pk})
    issued = client.post("/admin/accounts/apikey/add/", {**form, "tenant": world.tenant_a.pk}, follow=True)

    assert refused.status_code == 200  # the form again, with its error
    assert ApiKey.objects.filter(tenant=world.tenant_b).count() == before
    assert issued.redirect_chain == [("/admin/accounts/apikey/issued/", 303)]
    assert "gw_" in issued.content.decode()
    assert ApiKey.objects.filter(tenant=world.tenant_a, name="CRM").count() == 1


def test_an_agent_may_not_issue_keys(world: World) -> None:
    response = verified_client(world.staff[Role.AGENT]).post(
        "/admin/accounts/apikey/add/", {"tenant": world.tenant_a.pk, "name": "CRM", "scopes": ["keys:read"], "days": 30}
    )

    assert response.status_code == 403
    assert not ApiKey.objects.filter(name="CRM").exists()


def test_a_hold_on_another_tenant_is_refused(world: World) -> None:
    client = verified_client(world.staff[Role.OWNER])
    form = {"scope": "tenant", "case_reference": "CASE-X", "reason": "litigation"}

    client.post("/admin/policies/legalhold/add/", {**form, "tenant": world.tenant_b.pk})

    assert not LegalHold.objects.filter(case_reference="CASE-X").exists()


def test_an_owner_without_model_permissions_works_on_the_own_tenant(world: World) -> None:
    owner = world.staff[Role.OWNER]
    assert owner.user_permissions.count() == 0 and owner.groups.count() == 0
    client = verified_client(owner)
    policy = world.rows_a.first("policies.retentionpolicy")
    stored = RetentionPolicy.objects.filter(pk=policy.pk).values(*POLICY_FIELDS).get()
    form = {key: "" if value is None else value for key, value in stored.items()}
    form["content_max_days"] = 20

    response = client.post(change_url(policy), form)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert RetentionPolicy.objects.get(pk=policy.pk).content_max_days == 20


def test_a_membership_in_another_tenant_is_refused(world: World) -> None:
    client = verified_client(world.staff[Role.OWNER])
    agent = world.staff[Role.AGENT]

    response = client.post(
        "/admin/accounts/membership/add/", {"tenant": world.tenant_b.pk, "user": agent.pk, "role": "owner"}
    )

    assert response.status_code == 200  # the form again, with an error
    assert not Membership.objects.filter(user=agent, tenant=world.tenant_b).exists()


def test_autocomplete_offers_only_the_users_tenants(world: World) -> None:
    client = verified_client(world.staff[Role.OWNER])

    response = client.get(
        "/admin/autocomplete/", {"app_label": "accounts", "model_name": "membership", "field_name": "tenant"}
    )

    assert response.status_code == 200
    assert [item["id"] for item in response.json()["results"]] == [str(world.tenant_a.pk)]


def test_a_message_of_another_tenant_is_never_revealed_even_with_django_permissions(world: World) -> None:
    agent = world.staff[Role.AGENT]
    agent.user_permissions.set(Permission.objects.all())
    message = world.rows_b.first("messaging.message")
    assert isinstance(message, Message)

    response = verified_client(User.objects.get(pk=agent.pk)).post(
        change_url(message).removesuffix("change/") + "reveal/", {"field_names": ["content"], "reason": REASON}
    )

    assert response.status_code == 404
    assert AuditEvent.objects.filter(action=AuditAction.CONTENT_REVEALED).count() == 0


# --- a model registered later ----------------------------------------------------------------------------------


def test_an_admin_registered_without_scope_is_served_to_operators_only_and_fails_the_check(
    owner_a: User, operator: User
) -> None:
    site = GatewayAdminSite(name="later")
    site.register(BackupCode)  # a plain ModelAdmin, as a library or a new app would register it
    model_admin = site._registry[BackupCode]
    owner_request, operator_request = RequestFactory().get("/"), RequestFactory().get("/")
    owner_a.user_permissions.set(Permission.objects.filter(codename="view_backupcode"))
    owner_request.user, operator_request.user = User.objects.get(pk=owner_a.pk), operator

    assert [error.id for error in site.check(None)] == ["accounts.E110"]
    assert model_admin.has_module_permission(owner_request) is False
    assert model_admin.has_view_permission(owner_request) is False
    assert model_admin.get_queryset(owner_request).query.is_empty()
    assert model_admin.has_view_permission(operator_request) is True


def test_a_scoped_admin_without_an_area_fails_the_check() -> None:
    class UnnamedAreaAdmin(TenantScopedAdmin[Note]):
        tenant_path = "tenant_id"

    site = GatewayAdminSite(name="later")
    site.register(Note, UnnamedAreaAdmin)

    assert [error.id for error in site.check(None)] == ["accounts.E110"]


def test_the_project_site_passes_the_scope_check() -> None:
    assert [error.id for error in admin.site.check(None) if error.id == "accounts.E110"] == []


def test_search_finds_only_the_users_tenants_rows(world: World) -> None:
    client = verified_client(world.staff[Role.AGENT])
    message_a, message_b = world.rows_a.first("messaging.message"), world.rows_b.first("messaging.message")

    own = client.get("/admin/messaging/message/", {"q": "wamid.tenant-a"}).content.decode()
    other_response = client.get("/admin/messaging/message/", {"q": "wamid.tenant-b"})
    by_id_response = client.get("/admin/messaging/message/", {"q": str(message_b.pk)})
    other, by_id = other_response.content.decode(), by_id_response.content.decode()

    assert change_url(message_a) in own
    assert change_url(message_b) not in other + by_id
    assert changelist_count(other_response) == 0
    assert changelist_count(by_id_response) == 0


def test_an_admin_revokes_an_own_key(world: World) -> None:
    key = world.rows_a.first("accounts.apikey")

    verified_client(world.staff[Role.ADMIN]).post(
        "/admin/accounts/apikey/", {"action": "revoke_keys", "_selected_action": [str(key.pk)]}
    )

    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None


def test_user_autocomplete_offers_only_members_of_the_owners_tenants(world: World) -> None:
    response = verified_client(world.staff[Role.OWNER]).get(
        "/admin/autocomplete/", {"app_label": "accounts", "model_name": "membership", "field_name": "user"}
    )

    emails = sorted(item["text"] for item in response.json()["results"])
    assert emails == sorted(user.email for user in User.objects.filter(memberships__tenant=world.tenant_a))


def test_an_owner_resumes_a_paused_channel_through_the_service_and_an_agent_cannot(world: World) -> None:
    channel = world.rows_a.first("messaging.channel")
    assert isinstance(channel, Channel)
    channel_pause(channel=channel, code=190, title="Token expired")
    form = {"display_name": channel.display_name, "status": ChannelStatus.ACTIVE, "new_access_token": ""}

    refused = verified_client(world.staff[Role.AGENT]).post(change_url(channel), form)
    assert refused.status_code == 403
    assert Channel.objects.get(pk=channel.pk).status == ChannelStatus.PAUSED

    resumed = verified_client(world.staff[Role.OWNER]).post(change_url(channel), form)
    assert resumed.status_code == 302
    assert Channel.objects.get(pk=channel.pk).status == ChannelStatus.ACTIVE
    assert ChannelAlert.objects.filter(channel=channel, resolved_at__isnull=True).count() == 0
    event = AuditEvent.objects.get(action=AuditAction.CHANNEL_RESUMED, target_id=str(channel.pk))
    assert event.actor_id == world.staff[Role.OWNER].pk
