"""The simulator's event receiver checks Standard Webhooks signatures as a business's receiver would: what the
reference library signs verifies, a tampered body or an unknown secret does not."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from standardwebhooks import Webhook

from tests.simulator.conftest import SimulatorClient

SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"o" * 24).decode()


def _signed(secret: str, event_id: str, body: bytes) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, now, body.decode()),
    }


def _body(event_id: str) -> bytes:
    return json.dumps({"id": event_id, "type": "message.status", "data": {"status": "read"}}).encode()


def test_a_signed_event_verifies_and_is_listed(simulator: SimulatorClient) -> None:
    assert simulator.request("POST", "/_sim/event-receiver", {"secrets": [SECRET]}).status == 200

    answer = simulator.request(
        "POST", "/_sim/events", raw=_body("evt_1"), headers=_signed(SECRET, "evt_1", _body("evt_1"))
    )

    assert answer.status == 204
    seen = simulator.request("GET", "/_sim/events").body
    assert seen["verified"] >= 1
    listed = [{key: entry[key] for key in ("id", "type", "status")} for entry in seen["recent"]]
    assert {"id": "evt_1", "type": "message.status", "status": "read"} in listed
    assert all(isinstance(entry["received_at"], float) for entry in seen["recent"])


def test_a_tampered_body_or_another_secret_is_refused(simulator: SimulatorClient) -> None:
    simulator.request("POST", "/_sim/event-receiver", {"secrets": [SECRET]})
    rejected = simulator.request("GET", "/_sim/events").body["rejected"]

    tampered = simulator.request(
        "POST", "/_sim/events", raw=_body("evt_x"), headers=_signed(SECRET, "evt_2", _body("evt_2"))
    )
    foreign = simulator.request(
        "POST", "/_sim/events", raw=_body("evt_3"), headers=_signed(OTHER_SECRET, "evt_3", _body("evt_3"))
    )

    assert (tampered.status, foreign.status) == (401, 401)
    assert simulator.request("GET", "/_sim/events").body["rejected"] == rejected + 2


def test_during_a_rotation_either_secret_verifies(simulator: SimulatorClient) -> None:
    simulator.request("POST", "/_sim/event-receiver", {"secrets": [SECRET, OTHER_SECRET]})

    old = simulator.request(
        "POST", "/_sim/events", raw=_body("evt_4"), headers=_signed(SECRET, "evt_4", _body("evt_4"))
    )
    new = simulator.request(
        "POST", "/_sim/events", raw=_body("evt_5"), headers=_signed(OTHER_SECRET, "evt_5", _body("evt_5"))
    )

    assert (old.status, new.status) == (204, 204)


def test_a_malformed_secret_is_a_400(simulator: SimulatorClient) -> None:
    answer = simulator.request("POST", "/_sim/event-receiver", {"secrets": ["whsec_not base64!"]})

    assert answer.status == 400
    assert "base64" in answer.body["error"]


def test_recent_kept_lists_that_many_of_the_last_events(simulator: SimulatorClient) -> None:
    assert simulator.request("POST", "/_sim/event-receiver", {"secrets": [SECRET], "recent_kept": 2}).status == 200
    for event_id in ("evt_6", "evt_7", "evt_8"):
        body = _body(event_id)
        simulator.request("POST", "/_sim/events", raw=body, headers=_signed(SECRET, event_id, body))

    recent = simulator.request("GET", "/_sim/events").body["recent"]

    assert [entry["id"] for entry in recent] == ["evt_7", "evt_8"]
    refused = simulator.request("POST", "/_sim/event-receiver", {"secrets": [SECRET], "recent_kept": 0})
    assert refused.status == 400
