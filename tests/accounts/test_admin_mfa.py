"""Every admin URL needs a verified OTP session; the list comes from the registry, so new admins are covered."""

from __future__ import annotations

import uuid

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import NoReverseMatch, reverse

from accounts.models import TotpDevice, User
from tests.conftest import verify_session

pytestmark = pytest.mark.django_db


def admin_urls() -> list[str]:
    urls = [reverse("admin:index"), reverse("admin:password_change"), reverse("admin:jsi18n")]
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        urls.append(reverse("admin:app_list", args=[opts.app_label]))
        urls.extend(reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}") for view in ("changelist", "add"))
        object_id = "1" if opts.pk.get_internal_type() in {"AutoField", "BigAutoField"} else str(uuid.uuid4())
        for view in ("change", "delete", "history"):
            try:
                urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=[object_id]))
            except NoReverseMatch:
                assert model_admin is not None
    return sorted(set(urls))


ADMIN_URLS = admin_urls()


def test_the_registry_covers_every_model_admin_we_ship() -> None:
    registered = {f"{model._meta.app_label}.{model._meta.model_name}" for model in admin.site._registry}
    assert {
        "accounts.user",
        "accounts.tenant",
        "accounts.membership",
        "accounts.apikey",
        "audit.auditevent",
    } <= registered
    assert len(ADMIN_URLS) > 5 * len(registered)


@pytest.mark.parametrize("url", ADMIN_URLS)
def test_anonymous_is_sent_to_login(url: str) -> None:
    response = Client().get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("url", ADMIN_URLS)
def test_password_only_session_of_a_superuser_is_sent_to_otp(url: str, operator: User, operator_device) -> None:
    client = Client()
    client.force_login(operator)

    response = client.get(url, follow=True)

    assert response.redirect_chain[0][0].startswith("/admin/login/")
    assert response.redirect_chain[-1][0].startswith("/account/otp/")
    assert response.status_code == 200


def test_superuser_without_device_is_sent_to_enrolment(operator: User) -> None:
    client = Client()
    client.force_login(operator)

    response = client.get("/admin/accounts/tenant/", follow=True)

    assert response.redirect_chain[-1][0].startswith("/account/enrol/")


def test_admin_login_form_is_never_served(operator: User) -> None:
    response = Client().get("/admin/login/")

    assert response.status_code == 302
    assert response["Location"].startswith("/account/login/")


def test_verified_superuser_reaches_every_changelist(operator_client: Client) -> None:
    for model in admin.site._registry:
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        assert operator_client.get(url).status_code == 200, url


def test_verified_session_whose_device_was_removed_loses_access(operator: User, operator_device: TotpDevice) -> None:
    client = Client()
    client.force_login(operator)
    verify_session(client, operator_device)
    assert client.get("/admin/").status_code == 200

    TotpDevice.objects.filter(pk=operator_device.pk).delete()

    assert client.get("/admin/").status_code == 302
