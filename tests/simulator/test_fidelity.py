"""Graph shapes a real client relies on: identity shapes, failed statuses, JSON errors, the phone number node."""

from __future__ import annotations

from typing import Any

from tests.conftest import wait_for
from tests.simulator.conftest import PHONE_NUMBER_ID, TOKEN, SimulatorClient, WebhookReceiver

USER = "16505551234"
MESSAGES = f"/v23.0/{PHONE_NUMBER_ID}/messages"


def values(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    """Each POST's value, inbound messages first (the simulator posts concurrently, so arrival order varies)."""
    posted = [received.payload["entry"][0]["changes"][0]["value"] for received in receiver.snapshot()]
    return sorted(posted, key=lambda value: "messages" not in value)


def test_contacts_is_an_array_of_cards(simulator: SimulatorClient) -> None:
    simulator.channel_add(enforce_window=False)
    base = {"messaging_product": "whatsapp", "to": USER, "type": "contacts"}
    card = {"name": {"formatted_name": "Ada Lovelace"}, "phones": [{"phone": "+441234567890"}]}

    assert simulator.request("POST", MESSAGES, {**base, "contacts": [card]}, token=TOKEN).status == 200
    as_object = simulator.request("POST", MESSAGES, {**base, "contacts": card}, token=TOKEN)
    nameless = simulator.request("POST", MESSAGES, {**base, "contacts": [{"phones": []}]}, token=TOKEN)

    assert (as_object.status, as_object.body["error"]["code"]) == (400, 131008)
    assert "contacts[0]['name']['formatted_name']" in nameless.body["error"]["error_data"]["details"]


def test_phone_identity_keeps_the_pre_2026_shapes(simulator: SimulatorClient, receiver: WebhookReceiver) -> None:
    simulator.channel_add(webhook_url=receiver.url, status_delays_ms=[0, 0, 0])
    simulator.request("POST", "/_sim/inbound", {"provider_id": PHONE_NUMBER_ID, "sender_ids": [USER]})

    answer = simulator.send_text("+" + USER).body
    refused = simulator.send_text("+" + USER, recipient="US.13491208655302741918")

    assert answer["contacts"] == [{"input": "+" + USER, "wa_id": USER}]
    assert (refused.status, refused.body["error"]["code"]) == (400, 100)
    assert wait_for(lambda: len(receiver.snapshot()) == 4, seconds=10)
    inbound, *statuses = values(receiver)
    assert inbound["contacts"] == [{"profile": {"name": "Simulated 1234"}, "wa_id": USER}]
    assert all("contacts" not in value and value["statuses"][0]["recipient_id"] == USER for value in statuses)


def test_bsuid_identity_names_users_both_ways(simulator: SimulatorClient, receiver: WebhookReceiver) -> None:
    simulator.channel_add(identity="bsuid", webhook_url=receiver.url, status_delays_ms=[0, 0, 0])
    simulator.request("POST", "/_sim/inbound", {"provider_id": PHONE_NUMBER_ID, "sender_ids": [USER]})
    assert wait_for(lambda: len(receiver.snapshot()) == 1, seconds=10)
    [contact] = values(receiver)[0]["contacts"]
    user_id = contact["user_id"]

    by_bsuid = simulator.request(
        "POST", MESSAGES, {"messaging_product": "whatsapp", "recipient": user_id, "text": {"body": "x"}}, token=TOKEN
    )

    assert (contact["wa_id"], values(receiver)[0]["messages"][0]["from_user_id"]) == (USER, user_id)
    assert by_bsuid.body["contacts"] == [{"input": user_id, "wa_id": USER, "user_id": user_id}]
    assert wait_for(lambda: len(receiver.snapshot()) == 4, seconds=10)
    for value in values(receiver)[1:]:
        assert value["contacts"] == [{"wa_id": USER, "user_id": user_id}]
        assert (value["statuses"][0]["recipient_id"], value["statuses"][0]["recipient_user_id"]) == (USER, user_id)


def test_bsuid_only_identity_hides_the_phone_number(simulator: SimulatorClient, receiver: WebhookReceiver) -> None:
    simulator.channel_add(identity="bsuid_only", webhook_url=receiver.url, status_delays_ms=[0, 0, 0])
    simulator.request("POST", "/_sim/inbound", {"provider_id": PHONE_NUMBER_ID, "sender_ids": [USER]})

    simulator.send_text("+" + USER)

    assert wait_for(lambda: len(receiver.snapshot()) == 4, seconds=10)
    inbound, *statuses = values(receiver)
    assert "from" not in inbound["messages"][0]
    assert set(inbound["contacts"][0]) == {"profile", "user_id"}
    assert inbound["contacts"][0]["profile"]["username"].startswith("@")
    assert all("recipient_id" not in value["statuses"][0] for value in statuses)


def test_a_marked_recipient_gets_a_failed_status_with_errors(
    simulator: SimulatorClient, receiver: WebhookReceiver
) -> None:
    simulator.channel_add(enforce_window=False, webhook_url=receiver.url, status_delays_ms=[0, 0, 0])
    mark = {"provider_id": PHONE_NUMBER_ID, "recipients": ["+1 650 555 1234"], "code": 131026}
    assert simulator.request("POST", "/_sim/failures", mark).status == 200
    unknown_code = simulator.request("POST", "/_sim/failures", {**mark, "code": 99})

    answer = simulator.send_text("+" + USER, callback_data="msg-1")

    assert unknown_code.status == 400
    assert answer.status == 200
    assert wait_for(lambda: len(receiver.snapshot()) == 1 and simulator.webhooks()["idle"], seconds=10)
    [status] = values(receiver)[0]["statuses"]
    assert (status["status"], status["biz_opaque_callback_data"]) == ("failed", "msg-1")
    assert status["errors"][0]["code"] == 131026
    assert set(status["errors"][0]) == {"code", "title", "message", "error_data", "href"}
    assert simulator.request("GET", "/_sim/failures").body == {"failures": {PHONE_NUMBER_ID: {USER: 131026}}}


def test_unknown_paths_answer_graph_json(simulator: SimulatorClient) -> None:
    simulator.channel_add()

    for method, path in (("GET", "/v23.0/1/2/3"), ("PUT", f"/v23.0/{PHONE_NUMBER_ID}/messages")):
        response = simulator.request(method, path, token=TOKEN)
        assert response.status == 400
        assert set(response.body["error"]) >= {"message", "type", "code", "fbtrace_id"}


def test_the_phone_number_node_is_not_read_as_media(simulator: SimulatorClient) -> None:
    simulator.channel_add(mps=1000)

    node = simulator.request("GET", f"/v23.0/{PHONE_NUMBER_ID}", token=TOKEN).body
    throughput = simulator.request("GET", f"/v23.0/{PHONE_NUMBER_ID}?fields=throughput", token=TOKEN).body

    assert (node["id"], node["display_phone_number"], node["throughput"]) == (
        PHONE_NUMBER_ID,
        "15550783881",
        {"level": "HIGH"},
    )
    assert throughput == {"id": PHONE_NUMBER_ID, "throughput": {"level": "HIGH"}}
    assert simulator.request("GET", f"/v23.0/{PHONE_NUMBER_ID}", token="wrong").status == 401


def test_media_urls_ignore_the_host_header(simulator: SimulatorClient, simulator_url: str) -> None:
    simulator.channel_add()
    boundary = "simfid"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="messaging_product"\r\n\r\nwhatsapp\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        f"Content-Type: image/jpeg\r\n\r\nJPEG\r\n--{boundary}--\r\n"
    ).encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    media_id = simulator.request("POST", f"/v23.0/{PHONE_NUMBER_ID}/media", raw=body, token=TOKEN, headers=headers)
    path = f"/v23.0/{media_id.body['id']}"

    url = simulator.request("GET", path, token=TOKEN, headers={"Host": "attacker.example"}).body["url"]

    assert url.startswith(simulator_url + "/whatsapp_business/attachments/?mid=")


def test_the_default_pair_burst_is_the_reported_45(simulator: SimulatorClient) -> None:
    simulator.channel_add(enforce_window=False)

    assert simulator.request("GET", "/_sim/channels").body["channels"][0]["pair_burst"] == 45
