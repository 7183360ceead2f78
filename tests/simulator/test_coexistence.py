"""Coexistence webhooks on demand: echoes, history and address book changes in Meta's shapes, signed, the number
then held to the coexistence rate; and, relayed as received to the gateway's endpoint, stored and read back."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR
from accounts.apikeys import api_key_issue
from accounts.models import ApiScope, Tenant
from messaging.channels import channel_add, meta_app_register
from messaging.models import Channel, Contact, Message, MetaApp
from messaging.providers.registry import parse_webhook
from tests.conftest import wait_for
from tests.simulator.conftest import APP_SECRET, PAGE_ID, PHONE_NUMBER_ID, Received, SimulatorClient, WebhookReceiver
from webhooks.models import Delivery
from webhooks.services import delivery_process

USER = "16505551234"


def _one_post(simulator: SimulatorClient, receiver: WebhookReceiver, path: str, body: dict[str, Any]) -> Received:
    before = len(receiver.snapshot())
    response = simulator.request("POST", path, {"provider_id": PHONE_NUMBER_ID, **body})
    assert response.status == 202, response.body
    assert wait_for(lambda: len(receiver.snapshot()) == before + 1, seconds=10)
    received = receiver.snapshot()[-1]
    assert received.is_signed_with(APP_SECRET)
    assert b"\n" not in received.body  # compact, as Meta sends it
    return received


def _change(received: Received) -> tuple[str, dict[str, Any]]:
    (entry,) = received.payload["entry"]
    assert entry["id"] == "102290129340398"
    (change,) = entry["changes"]
    value = change["value"]
    assert value["metadata"] == {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID}
    return change["field"], value


def _channel(simulator: SimulatorClient) -> dict[str, Any]:
    channels = simulator.request("GET", "/_sim/channels").body["channels"]
    (channel,) = [channel for channel in channels if channel["provider_id"] == PHONE_NUMBER_ID]
    return dict(channel)


def test_echoes_are_the_business_messages_and_make_the_number_a_coexistence_one(
    simulator: SimulatorClient, receiver: WebhookReceiver
) -> None:
    simulator.channel_add(webhook_url=receiver.url)
    assert (_channel(simulator)["coexistence"], _channel(simulator)["mps"]) == (False, 80)

    response = simulator.request(
        "POST",
        "/_sim/coexistence/echoes",
        {"provider_id": PHONE_NUMBER_ID, "users": [USER, "447700900123"], "count": 3},
    )

    assert response.status == 202
    assert wait_for(lambda: len(receiver.snapshot()) == 1, seconds=10)
    field, value = _change(receiver.snapshot()[0])
    assert field == "smb_message_echoes"
    echoes = value["message_echoes"]
    assert [echo["id"] for echo in echoes] == response.body["ids"]
    assert [echo["to"] for echo in echoes] == [f"+{USER}", "+447700900123", f"+{USER}"]
    assert {echo["from"] for echo in echoes} == {"15550783881"}
    assert [echo["text"]["body"] for echo in echoes] == [f"Sent from the WhatsApp Business app {n}" for n in (1, 2, 3)]
    assert all(echo["type"] == "text" and echo["timestamp"].isdigit() for echo in echoes)
    assert (_channel(simulator)["coexistence"], _channel(simulator)["mps"]) == (True, 20)


def test_history_alternates_the_user_and_the_business_or_is_declined(
    simulator: SimulatorClient, receiver: WebhookReceiver
) -> None:
    simulator.channel_add(webhook_url=receiver.url)

    received = _one_post(simulator, receiver, "/_sim/coexistence/history", {"messages": 3, "days_ago": 2, "phase": 1})

    field, value = _change(received)
    (chunk,) = value["history"]
    assert field == "history"
    assert chunk["metadata"] == {"phase": 1, "chunk_order": 1, "progress": 100}
    (thread,) = chunk["threads"]
    assert thread["id"] == USER
    senders = [(message["from"], message.get("to"), message["history_context"]) for message in thread["messages"]]
    assert senders == [
        (USER, None, {"status": "READ"}),
        ("15550783881", USER, {"status": "DELIVERED"}),
        (USER, None, {"status": "READ"}),
    ]
    times = [int(message["timestamp"]) for message in thread["messages"]]
    assert times == sorted(times) and times[1] - times[0] == 60

    declined = _one_post(simulator, receiver, "/_sim/coexistence/history", {"declined": True})
    (refusal,) = _change(declined)[1]["history"]
    (error,) = refusal.pop("errors")
    assert refusal == {}  # no metadata, no threads
    assert (error["code"], error["title"]) == (
        2593109,
        "History sync is turned off by the business from the WhatsApp Business App",
    )


def test_state_sync_sends_additions_with_names_and_removals_without(
    simulator: SimulatorClient, receiver: WebhookReceiver
) -> None:
    simulator.channel_add(webhook_url=receiver.url)
    contacts = [
        {"phone_number": USER, "full_name": "Pablo Morales"},
        {"phone_number": "447700900123", "action": "remove"},
    ]

    received = _one_post(simulator, receiver, "/_sim/coexistence/state_sync", {"contacts": contacts})

    field, value = _change(received)
    added, removed = value["state_sync"]
    assert field == "smb_app_state_sync"
    assert (added["type"], added["action"], added["contact"]) == (
        "contact",
        "add",
        {"phone_number": USER, "full_name": "Pablo Morales", "first_name": "Pablo"},
    )
    assert (removed["action"], removed["contact"]) == ("remove", {"phone_number": "447700900123"})
    assert added["metadata"]["timestamp"].isdigit()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"provider_id": "404"}, "unknown channel 404"),
        ({"provider_id": PAGE_ID}, "coexistence webhooks are sent for WhatsApp numbers only"),
        ({"provider_id": PHONE_NUMBER_ID, "contacts": []}, "contacts must be a list of 1 to 10000 objects"),
        ({"provider_id": PHONE_NUMBER_ID, "contacts": [{"phone_number": USER, "action": "edit"}]}, "action must"),
    ],
)
def test_bad_requests_are_400_and_send_nothing(
    simulator: SimulatorClient, receiver: WebhookReceiver, body: dict[str, Any], error: str
) -> None:
    simulator.channel_add(webhook_url=receiver.url)
    simulator.channel_add(platform="messenger", provider_id=PAGE_ID, access_token="page", webhook_url=receiver.url)

    response = simulator.request("POST", "/_sim/coexistence/state_sync", body)

    assert response.status == 400
    assert response.body["error"].startswith(error)
    assert receiver.snapshot() == []


def test_a_channel_without_a_webhook_url_is_refused(simulator: SimulatorClient) -> None:
    simulator.channel_add()

    response = simulator.request("POST", "/_sim/coexistence/echoes", {"provider_id": PHONE_NUMBER_ID})

    assert (response.status, response.body) == (400, {"error": "the channel has no webhook_url"})


# --- end to end: what the simulator signs, the gateway stores ------------------------------------------------


@pytest.mark.django_db
def test_the_gateway_stores_what_the_simulator_sends(
    simulator: SimulatorClient, receiver: WebhookReceiver, tenant_a: Tenant
) -> None:
    app = meta_app_register(tenant=tenant_a, name="Simulated", app_secret=APP_SECRET, actor=CLI_ACTOR).meta_app
    channel_add(
        tenant=tenant_a,
        meta_app=app,
        platform="whatsapp",
        provider_id=PHONE_NUMBER_ID,
        access_token="t" * 40,
        actor=CLI_ACTOR,
    )
    simulator.channel_add(webhook_url=receiver.url)
    requests: list[tuple[str, dict[str, Any]]] = [
        ("/_sim/coexistence/state_sync", {"contacts": [{"phone_number": USER, "full_name": "Pablo Morales"}]}),
        ("/_sim/coexistence/history", {"messages": 2, "days_ago": 3}),
        ("/_sim/coexistence/echoes", {"text": "See you tomorrow"}),
    ]
    outcomes = []
    for path, body in requests:
        received = _one_post(simulator, receiver, path, body)
        assert parse_webhook(received.body).problems == ()
        outcomes.append(_relay(app, received))

    assert outcomes == [{"address_book": 1}, {"historical": 2, "channel_event": 1}, {"echo": 1}]
    assert _relay(app, receiver.snapshot()[-1]) == {"duplicate": 1}
    assert Channel.objects.get(provider_id=PHONE_NUMBER_ID).is_coexistence is True
    (contact,) = Contact.objects.all()
    assert contact.profile is not None and contact.profile["address_book"]["full_name"] == "Pablo Morales"

    issued = api_key_issue(tenant=tenant_a, name="sim", scopes=[ApiScope.MESSAGES_READ])
    api = APIClient(REMOTE_ADDR="203.0.113.9")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    shown = api.get("/api/v1/messages/").json()["results"]
    assert sorted((m["direction"], m["historical"], m["is_sent_elsewhere"], m["text"]) for m in shown) == [
        ("inbound", True, False, "Earlier question 1"),
        ("outbound", False, True, "See you tomorrow"),
        ("outbound", True, True, "Earlier reply 1"),
    ]
    assert {m["contact"] for m in shown} == {str(contact.pk)}
    assert Message.objects.count() == 3


def _relay(app: MetaApp, received: Received) -> dict[str, int]:
    """The simulator's POST as it arrived (body and signature), to the gateway's endpoint, then processed."""
    before = set(Delivery.objects.values_list("pk", flat=True))
    response = Client().post(
        f"/webhooks/meta/{app.app_key}/",
        received.body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=received.headers["X-Hub-Signature-256"],
    )
    assert response.status_code == 200
    (delivery,) = Delivery.objects.exclude(pk__in=before)
    outcome = dict(delivery_process(delivery_id=delivery.pk))
    assert outcome.pop("problems") == 0
    return outcome
