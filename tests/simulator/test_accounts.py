"""Account-level webhooks on demand, and the quality and tier changes Meta makes to a number."""

from __future__ import annotations

from typing import Any

from tests.conftest import wait_for
from tests.simulator.conftest import APP_SECRET, PHONE_NUMBER_ID, SimulatorClient, WebhookReceiver

WABA = "102290129340398"


def changes(receiver: WebhookReceiver) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (entry["id"], change["field"], change["value"])
        for received in receiver.snapshot()
        for entry in received.payload["entry"]
        for change in entry["changes"]
    ]


def test_any_account_field_is_posted_signed_for_the_numbers_waba(
    simulator: SimulatorClient, receiver: WebhookReceiver
) -> None:
    simulator.channel_add(webhook_url=receiver.url)
    value = {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "DISABLE", "waba_ban_date": "2026/12/07"}}

    answer = simulator.request(
        "POST", "/_sim/accounts/webhook", {"provider_id": PHONE_NUMBER_ID, "field": "account_update", "value": value}
    )

    assert (answer.status, answer.body) == (202, {"queued": 1, "waba_id": WABA})
    assert wait_for(lambda: len(receiver.snapshot()) == 1, seconds=10)
    (received,) = receiver.snapshot()
    assert received.is_signed_with(APP_SECRET)
    assert b"2026\\/12\\/07" in received.body  # serialised as Meta does
    assert received.payload["object"] == "whatsapp_business_account"
    assert isinstance(received.payload["entry"][0]["time"], int)
    assert changes(receiver) == [(WABA, "account_update", value)]


def test_a_quality_event_changes_the_number_and_posts_its_webhook(
    simulator: SimulatorClient, receiver: WebhookReceiver
) -> None:
    simulator.channel_add(webhook_url=receiver.url)

    flagged = simulator.request(
        "POST",
        "/_sim/accounts/quality",
        {"provider_id": PHONE_NUMBER_ID, "event": "FLAGGED", "current_limit": "TIER_2K"},
    )
    upgraded = simulator.request(
        "POST", "/_sim/accounts/quality", {"provider_id": PHONE_NUMBER_ID, "event": "THROUGHPUT_UPGRADE"}
    )

    assert flagged.body == {"queued": 1, "mps": 80, "quality_rating": "RED", "tier": "TIER_2K", "daily_limit": 2000}
    assert upgraded.body["mps"] == 1000
    assert simulator.request("GET", "/_sim/channels").body["channels"][0]["mps"] == 1000
    assert wait_for(lambda: len(receiver.snapshot()) == 2, seconds=10)
    values = sorted((value for _, _, value in changes(receiver)), key=lambda value: value["event"])
    assert values == [
        {
            "display_phone_number": "15550783881",
            "event": "FLAGGED",
            "old_limit": "TIER_250",
            "current_limit": "TIER_2K",
        },
        {"display_phone_number": "15550783881", "event": "THROUGHPUT_UPGRADE", "current_limit": "TIER_2K"},
    ]


def test_a_tier_change_posts_a_capability_update_and_is_listed(
    simulator: SimulatorClient, receiver: WebhookReceiver
) -> None:
    simulator.channel_add(webhook_url=receiver.url)

    simulator.request("POST", "/_sim/accounts/tier", {"provider_id": PHONE_NUMBER_ID, "tier": "TIER_10K"})

    assert wait_for(lambda: len(receiver.snapshot()) == 1, seconds=10)
    assert changes(receiver) == [
        (
            WABA,
            "business_capability_update",
            {"max_daily_conversations_per_business": "TIER_10K", "max_daily_conversation_per_phone": 10000},
        )
    ]
    assert simulator.request("GET", "/_sim/accounts").body == {
        PHONE_NUMBER_ID: {"quality_rating": "GREEN", "tier": "TIER_10K", "daily_limit": 10000}
    }


def test_bad_account_requests_are_refused_with_a_reason(simulator: SimulatorClient, receiver: WebhookReceiver) -> None:
    simulator.channel_add(webhook_url=receiver.url)
    simulator.channel_add(platform="messenger", provider_id="1234567890", access_token="page-token")
    quality = "/_sim/accounts/quality"

    for path, body, reason in [
        (quality, {"provider_id": PHONE_NUMBER_ID, "event": "BETTER"}, "event must be one of"),
        (quality, {"provider_id": PHONE_NUMBER_ID, "event": "UPGRADE", "current_limit": "TIER_9"}, "current_limit"),
        ("/_sim/accounts/tier", {"provider_id": PHONE_NUMBER_ID, "tier": "TIER_1M"}, "tier must be one of"),
        ("/_sim/accounts/webhook", {"provider_id": PHONE_NUMBER_ID, "field": "account_update"}, "value must be"),
        ("/_sim/accounts/webhook", {"provider_id": "1234567890", "field": "x", "value": {}}, "WhatsApp number"),
        ("/_sim/accounts/tier", {"provider_id": "404", "tier": "TIER_2K"}, "unknown channel"),
    ]:
        answer = simulator.request("POST", path, body)
        assert answer.status == 400 and reason in answer.body["error"], (path, body, answer.body)
    assert simulator.webhooks()["queued"] == 0 and receiver.snapshot() == []
