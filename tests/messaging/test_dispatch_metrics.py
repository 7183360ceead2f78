"""The dispatcher's outcomes in ``gateway_sends_total`` (by platform and outcome) and the queued gauge, one try at
a time in this process against the simulator."""

from __future__ import annotations

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families
from pytest_django.fixtures import Settings

from accounts.models import Tenant
from core.metrics import metric_value
from messaging.models import MetaApp
from messaging.outbound.dispatch import message_send
from messaging.outbound.dispatch import send as dispatch_send
from tests.messaging.dispatch_support import channel_pair, meta_app_for, queued_messages
from tests.simulator.conftest import SimulatorClient

pytestmark = pytest.mark.django_db

PHONE_NUMBER_ID = "106540352249001"


@pytest.fixture
def meta_app(
    tenant_a: Tenant, simulator: SimulatorClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> MetaApp:
    settings.GATEWAY_GRAPH_BASE_URL = simulator.base_url
    # These tests time nothing: a busy machine (a first call's key loading) must not turn the call into a stale
    # grant (its own outcome, put back without a call).
    monkeypatch.setattr(dispatch_send, "GRANT_VALID_MIN_MS", 60_000)
    return meta_app_for(tenant_a)


def queued_gauge() -> float:
    text = Client().get("/metrics").content.decode()
    for family in text_string_to_metric_families(text):
        if family.name == "gateway_outbound_queued":
            return float(family.samples[0].value)
    raise AssertionError("no gateway_outbound_queued in /metrics")


def test_an_accepted_send_counts_as_accepted_for_its_platform(simulator: SimulatorClient, meta_app: MetaApp) -> None:
    channel = channel_pair(simulator, meta_app, provider_id=PHONE_NUMBER_ID)
    [message] = queued_messages(channel, ["15550009001"])
    before = metric_value("gateway_sends", platform="whatsapp", outcome="accepted")
    others = metric_value("gateway_sends", platform="whatsapp") - before
    assert queued_gauge() == 1

    assert message_send(message_id=message.pk) == "accepted"

    assert metric_value("gateway_sends", platform="whatsapp", outcome="accepted") == before + 1
    assert metric_value("gateway_sends", platform="whatsapp") - before - 1 == others  # nothing else counted
    assert queued_gauge() == 0


def test_a_server_error_counts_as_a_retry(simulator: SimulatorClient, meta_app: MetaApp) -> None:
    channel = channel_pair(simulator, meta_app, provider_id=PHONE_NUMBER_ID)
    plan = {"provider_id": PHONE_NUMBER_ID, "server_error_rate": 1.0, "server_error_status": 503}
    assert simulator.request("POST", "/_sim/faults", plan).status == 200
    [message] = queued_messages(channel, ["15550009002"])
    retries = metric_value("gateway_sends", platform="whatsapp", outcome="retry")
    accepted = metric_value("gateway_sends", platform="whatsapp", outcome="accepted")

    try:
        assert message_send(message_id=message.pk) == "retry"
    finally:
        assert simulator.request("DELETE", "/_sim/faults").status == 200

    assert metric_value("gateway_sends", platform="whatsapp", outcome="retry") == retries + 1
    assert metric_value("gateway_sends", platform="whatsapp", outcome="accepted") == accepted
    assert queued_gauge() == 1  # requeued with a backoff
