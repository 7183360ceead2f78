"""Meta's captured webhooks aimed at a test channel, posted signed to the real endpoint and processed as the
ingest worker processes them; and the events recorded, as plain tuples to compare."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from django.test import Client

from events.models import Event
from messaging.models import Channel
from tests.events.conftest import APP_SECRET
from webhooks.models import Delivery
from webhooks.services import delivery_process
from webhooks.signature import signature_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta"


def fixture_for(channel: Channel, name: str) -> dict[str, Any]:
    """A captured webhook, routed to ``channel`` (its phone number id, or its page or account id)."""
    document: dict[str, Any] = json.loads((FIXTURES / name).read_bytes())
    for entry in document["entry"]:
        if document["object"] == "whatsapp_business_account":
            for change in entry["changes"]:
                change["value"]["metadata"]["phone_number_id"] = channel.provider_id
        else:
            entry["id"] = channel.provider_id
    return document


def whatsapp_status(channel: Channel, wamid: str, status: str, at: datetime) -> dict[str, Any]:
    """Meta's status webhook (its failed capture, Meta's error kept for ``failed`` only) for one message."""
    document = fixture_for(channel, "whatsapp_status_failed.json")
    report = document["entry"][0]["changes"][0]["value"]["statuses"][0]
    report.update(id=wamid, status=status, timestamp=str(int(at.timestamp())))
    if status != "failed":
        del report["errors"]
    return document


def messenger_edit(channel: Channel) -> dict[str, Any]:
    """Messenger's ``message_edit`` webhook: the captured text with its message edited."""
    document = fixture_for(channel, "messenger_text.json")
    event = document["entry"][0]["messaging"][0]
    message = event.pop("message")
    event["message_edit"] = {"mid": message["mid"], "text": "edited text", "num_edit": 1}
    return document


def deliver(channel: Channel, document: dict[str, Any]) -> dict[str, int]:
    """POST the webhook signed to the channel's app, then process it; returns the outcomes."""
    body = json.dumps(document).encode()
    response = Client().post(
        f"/webhooks/meta/{channel.meta_app.app_key}/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature_for(APP_SECRET, body),
    )
    assert response.status_code == 200
    delivery = Delivery.objects.order_by("-received_at").first()
    assert delivery is not None
    return dict(delivery_process(delivery_id=delivery.pk))


def events_of(event_type: str) -> list[Event]:
    return list(Event.objects.filter(type=event_type).order_by("occurred_at", "created_at", "id"))
