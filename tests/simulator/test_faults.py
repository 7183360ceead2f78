"""Injected failures: 5xx, timeouts and resets at seeded rates, before or after the send is accepted."""

from __future__ import annotations

import pytest

from tests.simulator.conftest import PHONE_NUMBER_ID, SimulatorClient


def statuses_of_a_run(simulator: SimulatorClient, count: int) -> list[int]:
    return [simulator.send_text("+16505551234", callback_data=f"m{index}").status for index in range(count)]


@pytest.fixture
def open_channel(simulator: SimulatorClient) -> SimulatorClient:
    simulator.channel_add(enforce_window=False, pair_period_seconds=0, mps=100_000)
    return simulator


def test_server_error_rate_is_roughly_honoured_and_reproducible(open_channel: SimulatorClient) -> None:
    faults = {"server_error_rate": 0.25, "server_error_status": 503, "seed": 42}
    assert open_channel.request("POST", "/_sim/faults", faults).status == 200

    first_run = statuses_of_a_run(open_channel, 400)
    assert open_channel.request("POST", "/_sim/faults", faults).status == 200
    second_run = statuses_of_a_run(open_channel, 400)

    failures = first_run.count(503)
    assert 60 <= failures <= 140
    assert set(first_run) == {200, 503}
    assert first_run == second_run
    sends = open_channel.sends()
    assert sends["faults"] == {"server_error": 2 * failures}
    assert sends["accepted_total"] == 2 * (400 - failures)


def test_server_error_body_is_a_transient_graph_error(open_channel: SimulatorClient) -> None:
    open_channel.request("POST", "/_sim/faults", {"server_error_rate": 1.0})

    response = open_channel.send_text("+16505551234")

    assert response.status == 500
    assert response.body["error"]["code"] == 2
    assert response.body["error"]["is_transient"] is True


def test_timeout_before_accept_leaves_nothing_accepted(open_channel: SimulatorClient) -> None:
    open_channel.request("POST", "/_sim/faults", {"timeout_rate": 1.0, "timeout_seconds": None})

    with pytest.raises(TimeoutError):
        open_channel.request(
            "POST",
            f"/v23.0/{PHONE_NUMBER_ID}/messages",
            {"messaging_product": "whatsapp", "to": "+1650555", "type": "text", "text": {"body": "x"}},
            token="sim-access-token",
            timeout=0.3,
        )

    assert open_channel.request("DELETE", "/_sim/faults").status == 200
    sends = open_channel.sends()
    assert (sends["accepted_total"], sends["faults"]) == (0, {"timeout": 1})


def test_timeout_after_accept_then_retry_shows_a_duplicate(open_channel: SimulatorClient) -> None:
    open_channel.request("POST", "/_sim/faults", {"accepted_timeout_rate": 1.0, "timeout_seconds": None})

    with pytest.raises(TimeoutError):
        open_channel.request(
            "POST",
            f"/v23.0/{PHONE_NUMBER_ID}/messages",
            {
                "messaging_product": "whatsapp",
                "to": "+16505551234",
                "type": "text",
                "text": {"body": "x"},
                "biz_opaque_callback_data": "msg-1",
            },
            token="sim-access-token",
            timeout=0.3,
        )
    open_channel.request("DELETE", "/_sim/faults")
    assert open_channel.send_text("+16505551234", callback_data="msg-1").status == 200

    sends = open_channel.sends()
    assert sends["duplicates"] == {"msg-1": 2}
    assert sends["faults"] == {"accepted_timeout": 1}


def test_held_response_is_answered_after_a_finite_timeout(open_channel: SimulatorClient) -> None:
    open_channel.request("POST", "/_sim/faults", {"timeout_rate": 1.0, "timeout_seconds": 0.05})

    response = open_channel.send_text("+16505551234")

    assert (response.status, response.body["error"]["code"]) == (504, 2)
    assert open_channel.sends()["accepted_total"] == 0


@pytest.mark.parametrize(("fault", "accepted"), [("reset", 0), ("accepted_reset", 1)])
def test_connection_reset_without_a_response(open_channel: SimulatorClient, fault: str, accepted: int) -> None:
    open_channel.request("POST", "/_sim/faults", {f"{fault}_rate": 1.0})

    with pytest.raises(ConnectionError):
        open_channel.send_text("+16505551234", callback_data="msg-1")

    open_channel.request("DELETE", "/_sim/faults")
    sends = open_channel.sends()
    assert (sends["accepted_total"], sends["faults"]) == (accepted, {fault: 1})


def test_faults_can_target_one_channel(open_channel: SimulatorClient) -> None:
    open_channel.channel_add(provider_id="200", enforce_window=False, pair_period_seconds=0)
    open_channel.request("POST", "/_sim/faults", {"provider_id": PHONE_NUMBER_ID, "server_error_rate": 1.0})
    other = {"messaging_product": "whatsapp", "to": "+16505551234", "type": "text", "text": {"body": "x"}}

    assert open_channel.send_text("+16505551234").status == 500
    assert open_channel.request("POST", "/v23.0/200/messages", other, token="sim-access-token").status == 200
    listed = open_channel.request("GET", "/_sim/faults").body
    assert listed["global"] is None
    assert listed["channels"][PHONE_NUMBER_ID]["server_error_rate"] == 1.0
