"""Meta apps and channels are added and changed in the admin through the services, after a fresh step-up;
secrets are write-only: typed into password inputs, never rendered back, blank keeps the current value."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant, TotpDevice, User
from audit.models import AuditAction, AuditEvent
from messaging.channels import channel_add, meta_app_register
from messaging.models import Channel, MetaApp
from tests.conftest import verify_session
from tests.database_text import tables_holding

pytestmark = pytest.mark.django_db
SECRET = "first-app-secret-" + "a" * 16
NEW_SECRET = "second-app-secret-" + "b" * 16
TOKEN = "EAAG-first-token-" + "c" * 20
NEW_TOKEN = "EAAG-second-token-" + "d" * 20
ADD_APP = "/admin/messaging/metaapp/add/"
ADD_CHANNEL = "/admin/messaging/channel/add/"
REGISTERED = "/admin/messaging/metaapp/registered/"


@pytest.fixture
def app_a(tenant_a: Tenant) -> MetaApp:
    return meta_app_register(tenant=tenant_a, name="A", app_secret=SECRET, actor=CLI_ACTOR).meta_app


@pytest.fixture
def channel_a(tenant_a: Tenant, app_a: MetaApp) -> Channel:
    return channel_add(
        tenant=tenant_a,
        meta_app=app_a,
        platform="whatsapp",
        provider_id="1122334455",
        access_token=TOKEN,
        actor=CLI_ACTOR,
    )


def _stale_client(user: User, device: TotpDevice) -> Client:
    client = Client()
    client.force_login(user)
    verify_session(client, device, verified_seconds_ago=3600)
    return client


def _app_change(app: MetaApp, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": app.name,
        "meta_app_id": app.meta_app_id,
        "is_active": "on",
        "new_app_secret": "",
        "secret_overlap_hours": "24",
        "new_verify_token": "",
        "_save": "Save",
    }
    data.update(overrides)
    return data


def _password_inputs(page: str) -> list[str]:
    return re.findall(r'<input type="password"[^>]*>', page)


def test_registering_an_app_shows_the_generated_verify_token_once(operator_client: Client, tenant_a: Tenant) -> None:
    form = operator_client.get(ADD_APP).content.decode()
    assert len(_password_inputs(form)) == 2

    response = operator_client.post(
        ADD_APP, {"tenant": tenant_a.pk, "name": "Shop", "meta_app_id": "123", "app_secret": SECRET, "verify_token": ""}
    )

    app = MetaApp.objects.get()
    assert (response.status_code, response["Location"], app.tenant, app.app_secret) == (
        303,
        REGISTERED,
        tenant_a,
        SECRET,
    )
    assert app.verify_token not in response.content.decode()
    assert (tables_holding(app.verify_token), tables_holding(SECRET)) == ([], [])
    shown = operator_client.get(response["Location"])
    page = shown.content.decode()
    assert page.count(app.verify_token) == 1 and SECRET not in page
    assert f"/webhooks/meta/{app.app_key}/" in page
    assert "no-store" in shown["Cache-Control"]
    reloaded = operator_client.get(response["Location"])
    assert reloaded.status_code == 200 and app.verify_token not in reloaded.content.decode()
    assert "already shown" in reloaded.content.decode() and "no-store" in reloaded["Cache-Control"]
    assert MetaApp.objects.count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.META_APP_CREATED, tenant_id=tenant_a.pk).count() == 1
    assert (
        app.verify_token
        not in operator_client.get(reverse("admin:messaging_metaapp_change", args=[app.pk])).content.decode()
    )
    assert (tables_holding(app.verify_token), tables_holding(SECRET)) == ([], [])


def test_a_typed_verify_token_is_kept_and_not_shown(operator_client: Client) -> None:
    token = "my-own-verify-token-123"

    response = operator_client.post(
        ADD_APP, {"tenant": "", "name": "Shared", "app_secret": SECRET, "verify_token": token}
    )

    app = MetaApp.objects.get()
    assert (response.status_code, response["Location"], app.tenant, app.verify_token) == (303, REGISTERED, None, token)
    page = operator_client.get(response["Location"]).content.decode()
    assert token not in page and f"/webhooks/meta/{app.app_key}/" in page
    assert AuditEvent.objects.filter(action=AuditAction.META_APP_VERIFY_TOKEN_CHANGED).count() == 1


def test_a_short_secret_is_a_form_error_and_is_not_rendered_back(operator_client: Client, tenant_a: Tenant) -> None:
    typed = "short-sec"

    response = operator_client.post(ADD_APP, {"tenant": tenant_a.pk, "name": "Shop", "app_secret": typed})

    page = response.content.decode()
    assert response.status_code == 200
    assert "at least 12 characters" in page and typed not in page
    assert MetaApp.objects.count() == 0


def test_adding_needs_a_fresh_step_up(operator: User, operator_device: TotpDevice, tenant_a: Tenant) -> None:
    client = _stale_client(operator, operator_device)

    for url in (ADD_APP, ADD_CHANNEL):
        response = client.post(url, {"tenant": tenant_a.pk, "name": "Shop", "app_secret": SECRET})
        assert response.status_code == 302 and response["Location"].startswith("/account/step-up/")
    assert MetaApp.objects.count() == 0


def test_changing_the_secret_rotates_it_with_a_window(operator_client: Client, app_a: MetaApp) -> None:
    url = reverse("admin:messaging_metaapp_change", args=[app_a.pk])
    page = operator_client.get(url).content.decode()
    assert SECRET not in page and app_a.verify_token not in page
    assert all("value=" not in tag for tag in _password_inputs(page))

    response = operator_client.post(url, _app_change(app_a, new_app_secret=NEW_SECRET, secret_overlap_hours="6"))

    assert response.status_code == 302
    app = MetaApp.objects.get()
    assert (app.app_secret, app.previous_app_secret) == (NEW_SECRET, SECRET)
    assert app.signing_secrets() == [NEW_SECRET, SECRET]
    assert app.previous_secret_valid_until is not None
    window = app.previous_secret_valid_until - timezone.now()
    assert timedelta(hours=5) < window <= timedelta(hours=6)
    assert AuditEvent.objects.filter(action=AuditAction.META_APP_SECRET_ROTATED).count() == 1


def test_blank_secrets_keep_the_current_values(operator_client: Client, app_a: MetaApp) -> None:
    token = app_a.verify_token
    url = reverse("admin:messaging_metaapp_change", args=[app_a.pk])

    response = operator_client.post(url, _app_change(app_a, name="Renamed"))

    assert response.status_code == 302
    app = MetaApp.objects.get()
    assert (app.name, app.app_secret, app.verify_token, app.previous_app_secret) == ("Renamed", SECRET, token, None)
    assert not AuditEvent.objects.filter(
        action__in=[AuditAction.META_APP_SECRET_ROTATED, AuditAction.META_APP_VERIFY_TOKEN_CHANGED]
    ).exists()


def test_a_new_verify_token_is_stored_and_audited(operator_client: Client, app_a: MetaApp) -> None:
    url = reverse("admin:messaging_metaapp_change", args=[app_a.pk])

    operator_client.post(url, _app_change(app_a, new_verify_token="a-brand-new-verify-token"))

    assert MetaApp.objects.get().verify_token == "a-brand-new-verify-token"
    assert MetaApp.objects.get().app_secret == SECRET
    event = AuditEvent.objects.get(action=AuditAction.META_APP_VERIFY_TOKEN_CHANGED)
    assert "a-brand-new-verify-token" not in str(event.details)


def test_the_change_form_needs_a_fresh_step_up(operator: User, operator_device: TotpDevice, app_a: MetaApp) -> None:
    client = _stale_client(operator, operator_device)
    url = reverse("admin:messaging_metaapp_change", args=[app_a.pk])

    response = client.post(url, _app_change(app_a, new_app_secret=NEW_SECRET))

    assert response.status_code == 302 and response["Location"].startswith("/account/step-up/")
    assert MetaApp.objects.get().app_secret == SECRET


def test_adding_a_channel_goes_through_the_service(operator_client: Client, tenant_a: Tenant, app_a: MetaApp) -> None:
    form = operator_client.get(ADD_CHANNEL).content.decode()
    assert len(_password_inputs(form)) == 1

    response = operator_client.post(
        ADD_CHANNEL,
        {
            "tenant": tenant_a.pk,
            "meta_app": app_a.pk,
            "platform": "messenger",
            "provider_id": "987654321",
            "display_name": "Page",
            "access_token": TOKEN,
        },
    )

    channel = Channel.objects.get()
    assert response.status_code == 302
    assert (channel.tenant, channel.meta_app, channel.access_token) == (tenant_a, app_a, TOKEN)
    assert AuditEvent.objects.filter(action=AuditAction.CHANNEL_CREATED, tenant_id=tenant_a.pk).count() == 1


def test_a_channel_refused_by_the_service_is_a_form_error(
    operator_client: Client, tenant_b: Tenant, app_a: MetaApp
) -> None:
    response = operator_client.post(
        ADD_CHANNEL,
        {
            "tenant": tenant_b.pk,
            "meta_app": app_a.pk,
            "platform": "whatsapp",
            "provider_id": "987654321",
            "access_token": TOKEN,
        },
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "belongs to another tenant" in page and TOKEN not in page
    assert Channel.objects.count() == 0


def test_a_channel_token_is_replaced_only_when_typed(operator_client: Client, channel_a: Channel) -> None:
    url = reverse("admin:messaging_channel_change", args=[channel_a.pk])
    page = operator_client.get(url).content.decode()
    assert TOKEN not in page and len(_password_inputs(page)) == 1

    operator_client.post(url, {"display_name": "Main", "status": "active", "new_access_token": "", "_save": "Save"})
    assert (Channel.objects.get().display_name, Channel.objects.get().access_token) == ("Main", TOKEN)

    operator_client.post(url, {"display_name": "Main", "status": "paused", "new_access_token": NEW_TOKEN, "_save": "1"})
    channel = Channel.objects.get()
    assert (channel.status, channel.access_token, channel.provider_id) == ("paused", NEW_TOKEN, "1122334455")
    assert AuditEvent.objects.filter(action=AuditAction.CHANNEL_TOKEN_CHANGED).count() == 1


def test_credentials_still_cannot_be_revealed_or_deleted(operator_client: Client, channel_a: Channel) -> None:
    change = reverse("admin:messaging_channel_change", args=[channel_a.pk])

    assert operator_client.get(change.removesuffix("change/") + "reveal/").status_code == 403
    assert operator_client.get(change.removesuffix("change/") + "delete/").status_code == 403
