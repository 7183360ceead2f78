"""heyoo, a second third-party Cloud API client, sends through the simulator as it would through Meta.

heyoo returns Meta's answer as a dict on HTTP 200 and ``None`` otherwise, so every call below that
returns a ``messages[0].id`` was accepted by the simulator exactly as heyoo builds it.
"""

from __future__ import annotations

from typing import Any

from heyoo import WhatsApp  # type: ignore[import-untyped]

from tests.simulator.conftest import PHONE_NUMBER_ID, TOKEN, SimulatorClient, WebhookReceiver

USER = "16505551234"


def heyoo_client(simulator_url: str) -> Any:
    """heyoo keeps Graph's base URL in attributes; point them at the simulator."""
    client = WhatsApp(token=TOKEN, phone_number_id=PHONE_NUMBER_ID)
    client.base_url = f"{simulator_url}/v14.0"
    client.v15_base_url = f"{simulator_url}/v15.0"
    client.url = f"{client.base_url}/{PHONE_NUMBER_ID}/messages"
    return client


def test_heyoo_sends_every_message_type(
    simulator: SimulatorClient, receiver: WebhookReceiver, simulator_url: str
) -> None:
    simulator.channel_add(webhook_url=receiver.url)
    response = simulator.request("POST", "/_sim/inbound", {"provider_id": PHONE_NUMBER_ID, "sender_ids": [USER]})
    [inbound_id] = response.body["ids"]
    heyoo = heyoo_client(simulator_url)
    contact = {"name": {"formatted_name": "Ada Lovelace", "first_name": "Ada"}, "phones": [{"phone": "+441234567890"}]}
    button = {
        "type": "button",
        "body": {"text": "Pick one"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Yes"}}]},
    }

    answers = [
        heyoo.send_message("Hello from heyoo", USER),
        heyoo.send_contacts([contact], USER),
        heyoo.send_location("52.52", "13.405", "Berlin", "Unter den Linden", USER),
        heyoo.send_image("https://example.com/a.jpg", USER),
        heyoo.send_document("https://example.com/a.pdf", USER),
        heyoo.send_reply_button(button, USER),
        heyoo.send_template("hello_world", USER, components=[]),
    ]

    assert all(answer is not None and answer["messages"][0]["id"].startswith("wamid.") for answer in answers)
    assert all(answer["contacts"][0]["wa_id"] == USER for answer in answers)
    assert heyoo.mark_as_read(inbound_id) == {"success": True}
    assert simulator.sends()["accepted_total"] == len(answers)
