"""Signed status webhooks after sends, generated inbound traffic, and Meta-like retries."""

from __future__ import annotations

from typing import Any

from tests.conftest import wait_for
from tests.simulator.conftest import APP_SECRET, PAGE_ID, PHONE_NUMBER_ID, SimulatorClient, WebhookReceiver


def statuses(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    return [
        status
        for received in receiver.snapshot()
        for entry in received.payload["entry"]
        for change in entry["changes"]
        for status in change["value"].get("statuses", [])
    ]


def test_whatsapp_statuses_are_signed_and_echo_callback_data(
    simulator: SimulatorClient, receiver: WebhookReceiver
) -> None:
    simulator.channel_add(enforce_window=False, webhook_url=receiver.url, status_delays_ms=[0, 20, 40])

    wamid = simulator.send_text("+16505551234", callback_data="msg-1").body["messages"][0]["id"]

    assert wait_for(lambda: len(statuses(receiver)) == 3, seconds=10)
    assert all(received.is_signed_with(APP_SECRET) for received in receiver.snapshot())
    assert not any(received.is_signed_with("another-secret") for received in receiver.snapshot())
    assert {status["status"] for status in statuses(receiver)} == {"sent", "delivered", "read"}
    for status in statuses(receiver):
        assert (status["id"], status["recipient_id"]) == (wamid, "16505551234")
        assert status["biz_opaque_callback_data"] == "msg-1"
        assert status["timestamp"].isdigit()
    first = receiver.snapshot()[0]
    assert first.path == "/webhooks/meta/app-key/"
    assert first.headers["Content-Type"] == "application/json"
    assert first.payload["object"] == "whatsapp_business_account"
    assert first.payload["entry"][0]["id"] == "102290129340398"
    value = first.payload["entry"][0]["changes"][0]["value"]
    assert value["metadata"] == {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID}
    assert wait_for(lambda: simulator.webhooks()["idle"], seconds=10)
    assert simulator.webhooks()["posts_ok"] == 3


def test_statuses_can_be_disabled(simulator: SimulatorClient, receiver: WebhookReceiver) -> None:
    simulator.channel_add(enforce_window=False, webhook_url=receiver.url, status_delays_ms=None)
    simulator.channel_add(provider_id="200", enforce_window=False, webhook_url=receiver.url, status_delays_ms=[0, 0, 0])
    path = "/v23.0/200/messages"
    body = {"messaging_product": "whatsapp", "to": "+16505551234", "type": "text", "text": {"body": "x"}}

    simulator.send_text("+16505551234")
    simulator.request("POST", path, body, token="sim-access-token")

    assert wait_for(lambda: simulator.webhooks()["idle"] and len(statuses(receiver)) == 3, seconds=10)
    assert {received.payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"]
            for received in receiver.snapshot()} == {"200"}  # fmt: skip


def test_messenger_delivery_and_read_events(simulator: SimulatorClient, receiver: WebhookReceiver) -> None:
    simulator.channel_add(
        platform="messenger",
        provider_id=PAGE_ID,
        access_token="page-token",
        webhook_url=receiver.url,
        enforce_window=False,
        status_delays_ms=[0, 10, 20],
    )
    body = {"recipient": {"id": "5678"}, "messaging_type": "UPDATE", "message": {"text": "Hi", "metadata": "msg-7"}}

    mid = simulator.request("POST", "/v23.0/me/messages", body, token="page-token").body["message_id"]

    assert wait_for(lambda: len(receiver.snapshot()) == 2, seconds=10)
    events = [item for received in receiver.snapshot() for item in received.payload["entry"][0]["messaging"]]
    delivery = next(event for event in events if "delivery" in event)
    read = next(event for event in events if "read" in event)
    assert delivery["delivery"]["mids"] == [mid]
    assert delivery["sender"] == {"id": "5678"}
    assert delivery["recipient"] == {"id": PAGE_ID}
    assert isinstance(read["read"]["watermark"], int)
    assert all(received.payload["object"] == "page" for received in receiver.snapshot())
    assert all(received.is_signed_with(APP_SECRET) for received in receiver.snapshot())


def test_inbound_generation_batches_signs_and_opens_windows(
    simulator: SimulatorClient, receiver: WebhookReceiver
) -> None:
    simulator.channel_add(webhook_url=receiver.url)
    request = {"provider_id": PHONE_NUMBER_ID, "count": 5, "senders": 2, "batch": 2, "text": "Café/ünï 😀"}

    response = simulator.request("POST", "/_sim/inbound", request)

    assert response.status == 202
    assert (response.body["queued"], response.body["posts"]) == (5, 3)
    assert wait_for(lambda: len(receiver.snapshot()) == 3, seconds=10)
    posts = receiver.snapshot()
    assert all(received.is_signed_with(APP_SECRET) for received in posts)
    assert all(b"Caf\\u00e9\\/\\u00fcn\\u00ef \\ud83d\\ude00" in received.body for received in posts)
    values = [received.payload["entry"][0]["changes"][0]["value"] for received in posts]
    messages = [message for value in values for message in value["messages"]]
    assert sorted(message["id"] for message in messages) == sorted(response.body["ids"])
    assert sorted(len(value["messages"]) for value in values) == [1, 2, 2]
    senders = {message["from"] for message in messages}
    assert len(senders) == 2
    for value in values:
        assert {contact["wa_id"] for contact in value["contacts"]} == {message["from"] for message in value["messages"]}
    assert {message["type"] for message in messages} == {"text"}
    assert all(message["text"]["body"].startswith("Café/ünï 😀 ") for message in messages)
    for sender in senders:
        assert simulator.send_text(f"+{sender}").status == 200


def test_instagram_inbound_shape(simulator: SimulatorClient, receiver: WebhookReceiver) -> None:
    simulator.channel_add(
        platform="instagram", provider_id="17841400000000000", access_token="ig", webhook_url=receiver.url
    )

    response = simulator.request("POST", "/_sim/inbound", {"provider_id": "17841400000000000", "sender_ids": ["42"]})

    assert wait_for(lambda: len(receiver.snapshot()) == 1, seconds=10)
    payload = receiver.snapshot()[0].payload
    assert payload["object"] == "instagram"
    [event] = payload["entry"][0]["messaging"]
    assert event["sender"] == {"id": "42"}
    assert event["recipient"] == {"id": "17841400000000000"}
    assert event["message"]["mid"] == response.body["ids"][0]
    assert isinstance(event["timestamp"], int)


def test_failed_webhook_posts_are_retried(simulator: SimulatorClient, receiver: WebhookReceiver) -> None:
    simulator.channel_add(webhook_url=receiver.url)
    receiver.failures_left = 2

    simulator.request("POST", "/_sim/inbound", {"provider_id": PHONE_NUMBER_ID, "count": 1})

    assert wait_for(lambda: len(receiver.snapshot()) == 1, seconds=20)
    assert wait_for(lambda: simulator.webhooks()["idle"], seconds=10)
    stats = simulator.webhooks()
    assert (stats["posts_failed"], stats["posts_ok"], stats["given_up"]) == (2, 1, 0)
    assert stats["by_http_status"] == {"500": 2, "200": 1}
    assert receiver.snapshot()[0].is_signed_with(APP_SECRET)
