"""A template's whole life against the simulator: created through the API -> PENDING (a send refused) ->
approved (Meta's webhook, applied) -> sent and accepted by Meta -> paused for quality (webhooks) -> a send refused
with its rule -> re-approved (the periodic sync) -> sent again; a parameter mismatch is refused with no Graph call."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pytest_django.fixtures import Settings

from accounts.models import ApiScope, Tenant
from messaging.message_templates import templates_apply_account_event
from messaging.models import Message, MessageStatus, MessageTemplate
from messaging.outbound.dispatch import message_send
from messaging.tasks import templates_sync_task
from tests.conftest import wait_for
from tests.messaging.template_support import (
    APP_SECRET,
    BODY,
    SEND_URL,
    TEMPLATES_URL,
    TOKEN,
    WABA_ID,
    account_on_simulator,
    body_parameters,
    client_for,
    review,
    simulator_move,
    template_send,
)
from tests.simulator.conftest import SimulatorClient, WebhookReceiver

pytestmark = pytest.mark.django_db


def account_changes(receiver: WebhookReceiver) -> list[tuple[str, str, dict[str, Any]]]:
    """(waba_id, field, value) of every account-level change the simulator posted, in order."""
    return [
        (entry["id"], change["field"], change["value"])
        for received in receiver.snapshot()
        for entry in received.payload["entry"]
        for change in entry["changes"]
        if change["field"].startswith(("message_template", "template_"))
    ]


class Webhooks:
    """Applies the account webhooks as they arrive, each once, as the gateway's account routing does."""

    def __init__(self, receiver: WebhookReceiver) -> None:
        self.receiver = receiver
        self.applied = 0

    def apply_when(self, count: int) -> list[str]:
        assert wait_for(lambda: len(account_changes(self.receiver)) >= self.applied + count, seconds=15)
        assert all(received.is_signed_with(APP_SECRET) for received in self.receiver.snapshot())
        fields = []
        for waba_id, field, value in account_changes(self.receiver)[self.applied :]:
            assert templates_apply_account_event(waba_id=waba_id, field=field, value=value) == 1
            fields.append(field)
        self.applied += len(fields)
        return fields


def rule_of(response: Any) -> str:
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "validation_failed"
    return str(response.json()["rule"])


def test_template_lifecycle(
    simulator: SimulatorClient, receiver: WebhookReceiver, tenant_a: Tenant, settings: Settings
) -> None:
    settings.GATEWAY_GRAPH_BASE_URL = simulator.base_url
    account = account_on_simulator(simulator, tenant_a, webhook_url=receiver.url)
    review(simulator, delay_seconds=0.5)
    client = client_for(tenant_a, ApiScope.TEMPLATES_MANAGE, ApiScope.MESSAGES_SEND, ApiScope.MESSAGES_READ)
    webhooks = Webhooks(receiver)
    send = template_send(account.channel, "order_update", body_parameters("Ana", "A-42"))

    created = client.post(
        TEMPLATES_URL,
        {"waba_id": WABA_ID, "name": "order_update", "language": "en_US", "category": "UTILITY", "components": [BODY]},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["status"] == "PENDING"
    assert rule_of(client.post(SEND_URL, send, format="json")) == "template_not_approved"

    assert webhooks.apply_when(1) == ["message_template_status_update"]
    template = MessageTemplate.objects.get()
    assert template.status == "APPROVED"

    accepted = client.post(SEND_URL, send, format="json")
    assert accepted.status_code == 202, accepted.content
    first = Message.objects.get(pk=accepted.json()["id"])
    assert message_send(message_id=first.pk) == "accepted"
    first.refresh_from_db()
    assert first.status == MessageStatus.ACCEPTED
    assert simulator.sends()["accepted_total"] == 1

    simulator_move(simulator, "order_update", quality_score="RED", status="PAUSED")
    # Two posts, in either order (like Meta's, each on its own).
    assert sorted(webhooks.apply_when(2)) == ["message_template_quality_update", "message_template_status_update"]
    template.refresh_from_db()
    assert (template.status, template.quality_score) == ("PAUSED", "RED")
    assert rule_of(client.post(SEND_URL, send, format="json")) == "template_paused"

    simulator_move(simulator, "order_update", quality_score="GREEN", status="APPROVED")
    assert templates_sync_task() == {"accounts": 1}  # the periodic sync sees it even before the webhooks apply
    template.refresh_from_db()
    assert (template.status, template.quality_score) == ("APPROVED", "GREEN")
    again = client.post(SEND_URL, send, format="json")
    assert again.status_code == 202, again.content
    assert message_send(message_id=uuid.UUID(again.json()["id"])) == "accepted"

    graph_calls = simulator.sends()
    queued = Message.objects.count()
    one_parameter = template_send(account.channel, "order_update", body_parameters("Ana"))
    named_instead = template_send(
        account.channel,
        "order_update",
        {"type": "body", "parameters": [{"type": "text", "text": "Ana", "parameter_name": "name"}]},
    )
    assert rule_of(client.post(SEND_URL, one_parameter, format="json")) == "template_parameter_mismatch"
    assert rule_of(client.post(SEND_URL, named_instead, format="json")) == "template_parameter_mismatch"
    assert Message.objects.count() == queued
    after = simulator.sends()
    assert (after["accepted_total"], after["errors"]) == (graph_calls["accepted_total"], graph_calls["errors"])
    assert after["accepted_total"] == 2
    assert TOKEN not in str([received.body for received in receiver.snapshot()])
