"""Channel alerts resolve themselves when their cause ends (the channel resumed, a token error's token replaced), in
the transaction of that change, and the open ones are listed on the admin index for the tenants that may see them."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from accounts.actors import CLI_ACTOR
from accounts.models import Role, Tenant
from messaging.alerts import channel_alerts_open
from messaging.channels import channel_set_access_token
from messaging.models import Channel, ChannelAlert
from messaging.outbound.dispatch.channels import channel_pause, channel_resume
from messaging.providers.errors import ERROR_POLICIES
from tests.messaging.admin_support import staff_client
from tests.policies.conftest import channel_create

pytestmark = pytest.mark.django_db

NEW_TOKEN = "EAAG" + "n" * 40


@pytest.fixture
def channel(tenant_a: Tenant) -> Channel:
    return channel_create(tenant_a, "106540352242922")


def token_expired(channel: Channel) -> ChannelAlert:
    """What the dispatcher does on Graph error 190."""
    assert channel_pause(channel=channel, code=190, title=ERROR_POLICIES[190].title)
    return ChannelAlert.objects.get(channel=channel, resolved_at__isnull=True)


def test_resuming_the_channel_resolves_its_alert(channel: Channel) -> None:
    alert = token_expired(channel)

    channel_resume(channel=channel, actor=CLI_ACTOR)

    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert list(channel_alerts_open(tenant_ids=None)) == []


def test_resuming_in_the_admin_resolves_the_alert(operator_client: Client, channel: Channel) -> None:
    alert = token_expired(channel)
    url = reverse("admin:messaging_channel_change", args=[channel.pk])
    response = operator_client.post(url, {"display_name": channel.display_name, "status": "active"})

    alert.refresh_from_db()
    assert response.status_code == 302, response.content.decode()[:500]
    assert alert.resolved_at is not None


def test_a_new_token_resolves_a_token_alert_and_leaves_the_channel_paused(channel: Channel) -> None:
    alert = token_expired(channel)

    channel_set_access_token(channel=channel, access_token=NEW_TOKEN, actor=CLI_ACTOR)

    alert.refresh_from_db()
    channel.refresh_from_db()
    assert alert.resolved_at is not None
    assert channel.status == "paused"


def test_a_new_token_leaves_an_alert_of_another_cause_open(channel: Channel) -> None:
    assert channel_pause(channel=channel, code=368, title=ERROR_POLICIES[368].title)
    assert channel_pause(channel=channel, code=None, title="Paused in the admin") is False  # already paused
    channel_set_access_token(channel=channel, access_token=NEW_TOKEN, actor=CLI_ACTOR)

    assert ChannelAlert.objects.get().resolved_at is None


def test_an_alert_stays_open_when_the_token_change_is_rolled_back(channel: Channel) -> None:
    alert = token_expired(channel)

    def change_then_fail() -> None:
        with transaction.atomic():
            channel_set_access_token(channel=channel, access_token=NEW_TOKEN, actor=CLI_ACTOR)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        change_then_fail()

    alert.refresh_from_db()
    assert alert.resolved_at is None


def test_the_dashboard_lists_open_alerts_of_the_users_tenants(
    tenant_a: Tenant, tenant_b: Tenant, channel: Channel
) -> None:
    token_expired(channel)
    channel_b = channel_create(tenant_b, "2002002002")
    assert channel_pause(channel=channel_b, code=368, title=ERROR_POLICIES[368].title)

    page = staff_client(tenant_a, Role.AGENT).get(reverse("admin:index")).content.decode()

    assert 'data-figure="open_alerts">1<' in page
    assert "WhatsApp Line 106540352242922" in page and ERROR_POLICIES[190].title in page
    assert "Line 2002002002" not in page and "Tenant B" not in page


def test_the_dashboard_counts_no_open_alert_once_resolved(operator_client: Client, channel: Channel) -> None:
    token_expired(channel)
    assert 'data-figure="open_alerts">1<' in operator_client.get(reverse("admin:index")).content.decode()

    channel_resume(channel=channel, actor=CLI_ACTOR)

    assert 'data-figure="open_alerts">0<' in operator_client.get(reverse("admin:index")).content.decode()
