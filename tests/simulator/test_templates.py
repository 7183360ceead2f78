"""The WhatsApp Business Account's template endpoints: list with cursors, create with a delayed review, delete,
the control API's pauses, the status webhooks, and template sends refused with Meta's codes."""

from __future__ import annotations

from typing import Any

from tests.conftest import wait_for
from tests.simulator.conftest import APP_SECRET, PHONE_NUMBER_ID, TOKEN, SimulatorClient, WebhookReceiver

WABA_ID = "102290129340398"
TEMPLATES = f"/v23.0/{WABA_ID}/message_templates"
BODY = {"type": "BODY", "text": "Hello {{1}}, your order {{2}} is on its way."}


def create(simulator: SimulatorClient, name: str, language: str = "en_US") -> dict[str, Any]:
    definition = {"name": name, "language": language, "category": "UTILITY", "components": [BODY]}
    response = simulator.request("POST", TEMPLATES, definition, token=TOKEN)
    assert response.status == 200, response.body
    return dict(response.body)


def listed(simulator: SimulatorClient, **query: str) -> dict[str, Any]:
    suffix = "&".join(f"{key}={value}" for key, value in query.items())
    response = simulator.request("GET", f"{TEMPLATES}?{suffix}", token=TOKEN)
    assert response.status == 200, response.body
    return dict(response.body)


def status_of(simulator: SimulatorClient, name: str) -> str:
    return next(str(t["status"]) for t in listed(simulator)["data"] if t["name"] == name)


def template_send(simulator: SimulatorClient, name: str) -> Any:
    body = {
        "messaging_product": "whatsapp",
        "to": "+16505551234",
        "type": "template",
        "template": {"name": name, "language": {"code": "en_US"}},
    }
    return simulator.request("POST", f"/v23.0/{PHONE_NUMBER_ID}/messages", body, token=TOKEN)


def test_a_created_template_is_pending_then_approved_after_the_review_delay(simulator: SimulatorClient) -> None:
    simulator.channel_add(enforce_window=False)
    assert simulator.request("POST", "/_sim/templates/review", {"delay_seconds": 0.3}).status == 200

    created = create(simulator, "order_update")

    assert created["status"] == "PENDING"
    assert created["category"] == "UTILITY"
    assert status_of(simulator, "order_update") == "PENDING"
    assert wait_for(lambda: status_of(simulator, "order_update") == "APPROVED", seconds=10)
    [template] = listed(simulator)["data"]
    assert template["id"] == created["id"]
    assert template["components"] == [BODY]
    assert template["parameter_format"] == "POSITIONAL"


def test_a_review_can_end_in_rejection_with_its_reason(simulator: SimulatorClient) -> None:
    simulator.channel_add(enforce_window=False)
    review = {"waba_id": WABA_ID, "delay_seconds": 0, "outcome": "REJECTED", "reason": "INVALID_FORMAT"}
    assert simulator.request("POST", "/_sim/templates/review", review).status == 200

    create(simulator, "bad_one")

    assert wait_for(lambda: status_of(simulator, "bad_one") == "REJECTED", seconds=10)
    assert listed(simulator)["data"][0]["rejected_reason"] == "INVALID_FORMAT"


def test_a_duplicate_or_a_malformed_definition_is_refused(simulator: SimulatorClient) -> None:
    simulator.channel_add(enforce_window=False)
    create(simulator, "order_update")

    again = {"name": "order_update", "language": "en_US", "category": "UTILITY", "components": [BODY]}
    duplicate = simulator.request("POST", TEMPLATES, again, token=TOKEN)
    no_body = simulator.request("POST", TEMPLATES, {**again, "name": "other", "components": []}, token=TOKEN)
    bad_category = simulator.request("POST", TEMPLATES, {**again, "name": "other", "category": "X"}, token=TOKEN)

    assert (duplicate.status, duplicate.body["error"]["error_subcode"]) == (400, 2388024)
    assert no_body.status == 400
    assert bad_category.status == 400
    assert len(listed(simulator)["data"]) == 1


def test_the_list_pages_with_cursors(simulator: SimulatorClient) -> None:
    simulator.channel_add(enforce_window=False)
    names = [f"template_{index}" for index in range(5)]
    for name in names:
        create(simulator, name)

    seen: list[str] = []
    page = listed(simulator, limit="2")
    while True:
        seen.extend(t["name"] for t in page["data"])
        if "next" not in page.get("paging", {}):
            break
        page = listed(simulator, limit="2", after=page["paging"]["cursors"]["after"])

    assert seen == names


def test_only_the_accounts_tokens_reach_its_templates(simulator: SimulatorClient) -> None:
    simulator.channel_add(enforce_window=False)

    wrong = simulator.request("GET", TEMPLATES, token="wrong-token")
    other_account = simulator.request("GET", "/v23.0/999/message_templates", token=TOKEN)

    assert (wrong.status, wrong.body["error"]["code"]) == (401, 190)
    assert (other_account.status, other_account.body["error"]["code"]) == (400, 100)


def test_delete_by_name_and_id(simulator: SimulatorClient) -> None:
    simulator.channel_add(enforce_window=False)
    english = create(simulator, "order_update", "en_US")
    create(simulator, "order_update", "fr")

    one = simulator.request("DELETE", f"{TEMPLATES}?name=order_update&hsm_id={english['id']}", token=TOKEN)
    assert one.status == 200
    assert [t["language"] for t in listed(simulator)["data"]] == ["fr"]
    rest = simulator.request("DELETE", f"{TEMPLATES}?name=order_update", token=TOKEN)
    assert rest.status == 200
    assert listed(simulator)["data"] == []
    missing = simulator.request("DELETE", f"{TEMPLATES}?name=order_update", token=TOKEN)
    assert missing.status == 400


def test_status_changes_post_signed_account_webhooks(simulator: SimulatorClient, receiver: WebhookReceiver) -> None:
    simulator.channel_add(enforce_window=False, webhook_url=receiver.url)
    assert simulator.request("POST", "/_sim/templates/review", {"delay_seconds": 0}).status == 200
    created = create(simulator, "order_update")
    assert wait_for(lambda: len(receiver.snapshot()) == 1, seconds=10)

    pause = {"waba_id": WABA_ID, "name": "order_update", "language": "en_US", "status": "PAUSED"}
    response = simulator.request("POST", "/_sim/templates/status", {**pause, "quality_score": "RED"})

    assert response.status == 200
    assert wait_for(lambda: len(receiver.snapshot()) == 3, seconds=10)
    received = receiver.snapshot()
    assert all(item.is_signed_with(APP_SECRET) for item in received)
    changes = [item.payload["entry"][0]["changes"][0] for item in received]
    # The approval came alone; the pause's two posts go out together, in either order, like Meta's.
    changes[1:] = sorted(changes[1:], key=lambda change: str(change["field"]))
    assert [change["field"] for change in changes] == [
        "message_template_status_update",
        "message_template_quality_update",
        "message_template_status_update",
    ]
    assert changes[0]["value"] == {
        "event": "APPROVED",
        "message_template_id": int(created["id"]),
        "message_template_name": "order_update",
        "message_template_language": "en_US",
        "reason": "NONE",
    }
    assert changes[1]["value"]["new_quality_score"] == "RED"
    assert changes[2]["value"]["event"] == "PAUSED"
    assert all(item.payload["entry"][0]["id"] == WABA_ID for item in received)


def test_template_sends_are_refused_like_meta_once_the_account_has_templates(simulator: SimulatorClient) -> None:
    simulator.channel_add(enforce_window=False)
    assert template_send(simulator, "anything").status == 200  # no templates yet: not checked
    assert simulator.request("POST", "/_sim/templates/review", {"delay_seconds": 0}).status == 200
    create(simulator, "order_update")
    assert wait_for(lambda: status_of(simulator, "order_update") == "APPROVED", seconds=10)

    assert template_send(simulator, "order_update").status == 200
    assert template_send(simulator, "unknown").body["error"]["code"] == 132001
    move = {"waba_id": WABA_ID, "name": "order_update", "language": "en_US"}
    simulator.request("POST", "/_sim/templates/status", {**move, "status": "PAUSED"})
    assert template_send(simulator, "order_update").body["error"]["code"] == 132015
    simulator.request("POST", "/_sim/templates/status", {**move, "status": "DISABLED"})
    assert template_send(simulator, "order_update").body["error"]["code"] == 132016


def test_a_reset_forgets_the_templates(simulator: SimulatorClient) -> None:
    simulator.channel_add(enforce_window=False)
    create(simulator, "order_update")

    assert simulator.request("DELETE", "/_sim/channels").status == 200
    simulator.channel_add(enforce_window=False)

    assert listed(simulator)["data"] == []
