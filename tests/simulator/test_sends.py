"""Graph send endpoints: success shapes, auth, validation, throughput, pair rate, windows and the ledger."""

from __future__ import annotations

from typing import Any

from tests.simulator.conftest import PAGE_ID, PHONE_NUMBER_ID, TOKEN, SimulatorClient

TEMPLATE = {"name": "hello_world", "language": {"code": "en_US"}}


def test_whatsapp_success_shape(simulator: SimulatorClient) -> None:
    simulator.channel_add(enforce_window=False)

    response = simulator.send_text("+16505551234", callback_data="msg-1")

    assert response.status == 200
    assert set(response.body) == {"messaging_product", "contacts", "messages"}
    assert response.body["messaging_product"] == "whatsapp"
    assert response.body["contacts"] == [{"input": "+16505551234", "wa_id": "16505551234"}]
    [message] = response.body["messages"]
    assert message["id"].startswith("wamid.")
    assert simulator.send_text("+16505551234").body["messages"][0]["id"] != message["id"]


def test_bad_or_missing_token_is_190(simulator: SimulatorClient) -> None:
    simulator.channel_add(enforce_window=False)

    for token in ("wrong-token", None):
        response = simulator.request(
            "POST", f"/v23.0/{PHONE_NUMBER_ID}/messages", {"messaging_product": "whatsapp"}, token=token
        )
        assert response.status == 401
        error = response.body["error"]
        assert (error["code"], error["type"]) == (190, "OAuthException")
        assert set(error) == {"message", "type", "code", "fbtrace_id"}
    assert simulator.sends()["accepted_total"] == 0
    assert simulator.sends()["errors"] == {"190": 2}


def test_unknown_phone_number_id_with_a_valid_token(simulator: SimulatorClient) -> None:
    simulator.channel_add(enforce_window=False)

    response = simulator.request("POST", "/v23.0/999/messages", {"messaging_product": "whatsapp"}, token=TOKEN)

    assert response.status == 400
    assert (response.body["error"]["code"], response.body["error"]["error_subcode"]) == (100, 33)


def whatsapp_error(simulator: SimulatorClient, body: Any) -> dict[str, Any]:
    response = simulator.request("POST", f"/v23.0/{PHONE_NUMBER_ID}/messages", body, token=TOKEN)
    assert response.status == 400
    return dict(response.body["error"])


def test_invalid_bodies_are_rejected_like_graph(simulator: SimulatorClient) -> None:
    simulator.channel_add(enforce_window=False)
    base = {"messaging_product": "whatsapp", "to": "+16505551234"}

    assert whatsapp_error(simulator, {"to": "+16505551234", "type": "text", "text": {"body": "x"}})["code"] == 100
    assert whatsapp_error(simulator, {**base, "type": "telegram", "telegram": {}})["code"] == 100
    assert whatsapp_error(simulator, {**base, "type": "text"})["code"] == 131008
    assert whatsapp_error(simulator, {**base, "type": "text", "text": {"body": "x" * 4097}})["code"] == 100
    assert whatsapp_error(simulator, {**base, "type": "image", "image": {"caption": "no id"}})["code"] == 131008
    assert whatsapp_error(simulator, {**base, "type": "template", "template": {"name": "t"}})["code"] == 131008
    assert (
        whatsapp_error(simulator, {"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}})["code"]
        == 100
    )
    malformed = simulator.request("POST", f"/v23.0/{PHONE_NUMBER_ID}/messages", raw=b"{not json", token=TOKEN)
    assert (malformed.status, malformed.body["error"]["code"]) == (400, 100)
    error = whatsapp_error(simulator, {**base, "type": "text"})
    assert error["error_data"] == {"messaging_product": "whatsapp", "details": "Parameter 'text' is required."}
    assert simulator.sends()["accepted_total"] == 0


def test_media_by_link_template_and_mark_read_are_accepted(simulator: SimulatorClient) -> None:
    simulator.channel_add(enforce_window=False, webhook_url="http://127.0.0.1:9/unreachable")
    base = {"messaging_product": "whatsapp", "to": "+16505551234"}
    path = f"/v23.0/{PHONE_NUMBER_ID}/messages"
    [inbound_id] = simulator.request("POST", "/_sim/inbound", {"provider_id": PHONE_NUMBER_ID}).body["ids"]

    image = {**base, "type": "image", "image": {"link": "https://example.com/a.jpg"}}
    assert simulator.request("POST", path, image, token=TOKEN).status == 200
    template = simulator.request("POST", path, {**base, "type": "template", "template": TEMPLATE}, token=TOKEN)
    assert template.status == 200
    assert template.body["messages"][0]["message_status"] == "accepted"
    read = {"messaging_product": "whatsapp", "status": "read", "message_id": inbound_id}
    assert simulator.request("POST", path, read, token=TOKEN).body == {"success": True}
    made_up = simulator.request("POST", path, {**read, "message_id": "wamid.X"}, token=TOKEN)
    assert (made_up.status, made_up.body["error"]["code"]) == (400, 131009)
    sends = simulator.sends()
    assert (sends["accepted_total"], sends["marked_read"]) == (2, 1)


def test_throughput_limit_is_never_exceeded_in_any_second(simulator: SimulatorClient) -> None:
    simulator.channel_add(enforce_window=False, mps=5, pair_period_seconds=0)

    statuses = [simulator.send_text(f"+1650555{index:04d}", callback_data=f"m{index}") for index in range(40)]

    rejected = [response for response in statuses if response.status != 200]
    sends = simulator.sends()
    per_second = sends["per_second"][PHONE_NUMBER_ID]
    assert rejected
    assert all(count <= 5 for count in per_second.values())
    assert sum(per_second.values()) == sends["accepted_total"] == 40 - len(rejected)
    assert sends["errors"] == {"130429": len(rejected)}
    assert sends["max_per_second"][PHONE_NUMBER_ID] <= 5
    error = rejected[0].body["error"]
    assert rejected[0].status == 400
    assert set(error) == {"message", "type", "code", "error_data", "fbtrace_id"}
    assert (error["code"], error["type"], error["message"]) == (130429, "OAuthException", "(#130429) Rate limit hit")
    assert error["error_data"]["messaging_product"] == "whatsapp"


def test_pair_rate_limits_one_recipient_only(simulator: SimulatorClient) -> None:
    simulator.channel_add(enforce_window=False, pair_burst=2, pair_period_seconds=600)

    first, second, third = (simulator.send_text("+16505551234") for _ in range(3))
    other = simulator.send_text("+16505559999")

    assert (first.status, second.status, third.status, other.status) == (200, 200, 400, 200)
    assert third.body["error"]["code"] == 131056
    assert simulator.sends()["errors"] == {"131056": 1}
    assert simulator.sends()["accepted_total"] == 3


def test_window_rule_and_template_exception(simulator: SimulatorClient) -> None:
    simulator.channel_add()
    path = f"/v23.0/{PHONE_NUMBER_ID}/messages"
    template = {"messaging_product": "whatsapp", "to": "+16505551234", "type": "template", "template": TEMPLATE}

    closed = simulator.send_text("+16505551234")
    assert (closed.status, closed.body["error"]["code"]) == (400, 131047)
    assert simulator.request("POST", path, template, token=TOKEN).status == 200

    opened = {"provider_id": PHONE_NUMBER_ID, "recipients": ["16505551234"]}
    assert simulator.request("POST", "/_sim/windows", opened).status == 200
    assert simulator.send_text("+16505551234").status == 200
    assert simulator.send_text("+16505550000").status == 400

    assert simulator.request("POST", "/_sim/windows", {**opened, "open": False}).status == 200
    assert simulator.send_text("+16505551234").body["error"]["code"] == 131047
    assert simulator.sends()["errors"] == {"131047": 3}


def test_duplicates_are_counted_by_callback_data(simulator: SimulatorClient) -> None:
    simulator.channel_add(enforce_window=False, pair_period_seconds=0)

    for callback_data in ("msg-1", "msg-2", "msg-1", "msg-1"):
        assert simulator.send_text("+16505551234", callback_data=callback_data).status == 200
    simulator.send_text("+16505551234")

    sends = simulator.sends()
    assert sends["by_id"] == {"msg-1": 3, "msg-2": 1}
    assert sends["duplicates"] == {"msg-1": 3}
    assert (sends["accepted_total"], sends["untagged"]) == (5, 1)
    assert "by_id" not in simulator.request("GET", "/_sim/sends?ids=false").body
    assert simulator.request("DELETE", "/_sim/sends").status == 200
    assert simulator.sends()["accepted_total"] == 0


def messenger_body(recipient: str, **extra: Any) -> dict[str, Any]:
    return {"recipient": {"id": recipient}, "messaging_type": "RESPONSE", "message": {"text": "Hi"}, **extra}


def test_messenger_send_window_and_tags(simulator: SimulatorClient) -> None:
    simulator.channel_add(platform="messenger", provider_id=PAGE_ID, access_token="page-token")
    simulator.request("POST", "/_sim/windows", {"provider_id": PAGE_ID, "recipients": ["5678"]})

    ok = simulator.request("POST", "/v23.0/me/messages", messenger_body("5678"), token="page-token")
    by_page = simulator.request("POST", f"/v23.0/{PAGE_ID}/messages", messenger_body("5678"), token="page-token")
    outside = simulator.request("POST", "/v23.0/me/messages", messenger_body("9999"), token="page-token")
    tagged_body = messenger_body("9999", messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
    tagged = simulator.request("POST", "/v23.0/me/messages", tagged_body, token="page-token")
    bad_token = simulator.request("POST", "/v23.0/me/messages", messenger_body("5678"), token="nope")

    assert ok.status == 200
    assert ok.body["recipient_id"] == "5678"
    assert ok.body["message_id"].startswith("m_")
    assert by_page.status == 200
    assert outside.status == 400
    assert (outside.body["error"]["code"], outside.body["error"]["error_subcode"]) == (10, 2018278)
    assert tagged.status == 200
    assert (bad_token.status, bad_token.body["error"]["code"]) == (401, 190)
    assert simulator.sends()["accepted_total"] == 3


def test_messenger_validation_and_metadata_ledger(simulator: SimulatorClient) -> None:
    simulator.channel_add(
        platform="instagram", provider_id="17841400000000000", access_token="ig", enforce_window=False
    )

    missing = simulator.request("POST", "/v23.0/me/messages", {"message": {"text": "x"}}, token="ig")
    bad_tag = messenger_body("5678", messaging_type="MESSAGE_TAG", tag="ACCOUNT_UPDATE")
    instagram_tag = simulator.request("POST", "/v23.0/me/messages", bad_tag, token="ig")
    with_metadata = messenger_body("5678", message={"text": "Hi", "metadata": "msg-9"})
    typing = {"recipient": {"id": "5678"}, "sender_action": "typing_on"}

    assert (missing.status, missing.body["error"]["code"]) == (400, 100)
    assert (instagram_tag.status, instagram_tag.body["error"]["code"]) == (400, 100)
    assert simulator.request("POST", "/v23.0/me/messages", with_metadata, token="ig").status == 200
    assert simulator.request("POST", "/v23.0/me/messages", typing, token="ig").body == {"recipient_id": "5678"}
    sends = simulator.sends()
    assert (sends["by_id"], sends["sender_actions"]) == ({"msg-9": 1}, 1)


def test_control_api_rejects_bad_input_with_400(simulator: SimulatorClient) -> None:
    bad_requests = [
        ("POST", "/_sim/channels", {"platform": "telegram", "provider_id": "1"}),
        ("POST", "/_sim/channels", {"platform": "whatsapp", "provider_id": "1", "access_token": "t"}),
        ("POST", "/_sim/faults", {"server_error_rate": 0.7, "timeout_rate": 0.7}),
        ("POST", "/_sim/faults", {"provider_id": "unknown", "reset_rate": 0.1}),
        ("POST", "/_sim/windows", {"provider_id": "unknown", "recipients": ["1"]}),
        ("POST", "/_sim/inbound", {"provider_id": "unknown"}),
        ("POST", "/_sim/channels", [1, 2]),
    ]
    for method, path, body in bad_requests:
        response = simulator.request(method, path, body)
        assert response.status == 400, (path, body)
        assert isinstance(response.body["error"], str)
    assert simulator.request("POST", "/_sim/faults", raw=b"{oops").status == 400
    assert simulator.request("GET", "/_sim/channels").body == {"channels": []}
