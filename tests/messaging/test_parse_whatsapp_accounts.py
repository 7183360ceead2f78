"""WABA-level fields read into typed facts and neutral account notices (no Django, no database)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from messaging.providers.events import AccountNotice, AccountStanding, UnhandledEvent, UnreadableEvent
from messaging.providers.registry import delivery_events, parse_webhook
from messaging.providers.whatsapp.accounts import AccountUpdate, Restriction, daily_limit_of, tier_of


def _body(field: str, value: Any, waba_id: str = "W1") -> bytes:
    change = {"field": field, "value": value}
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": waba_id, "changes": [change]}]}).encode()


def _item(field: str, value: Any) -> AccountUpdate:
    delivery = parse_webhook(_body(field, value))
    assert delivery.problems == ()
    (item,) = delivery.items
    assert isinstance(item, AccountUpdate)
    return item


@pytest.mark.parametrize(
    ("tier", "daily"),
    [("TIER_250", 250), ("TIER_1K", 1_000), ("TIER_2K", 2_000), ("TIER_10K", 10_000), ("TIER_100K", 100_000)],
)
def test_each_tier_is_a_daily_count_of_business_initiated_conversations(tier: str, daily: int) -> None:
    assert (daily_limit_of(tier), tier_of(daily)) == (daily, tier)


def test_the_unlimited_tier_has_no_daily_count() -> None:
    assert daily_limit_of("TIER_UNLIMITED") is None


@pytest.mark.parametrize(
    ("value", "tier"),
    [
        ({"max_daily_conversation_per_phone": 10000}, "TIER_10K"),
        ({"max_daily_conversation_per_phone": "100000"}, "TIER_100K"),
        ({"max_daily_conversations_per_business": "TIER_2K", "max_daily_conversation_per_phone": 250}, "TIER_2K"),
        ({"max_daily_conversation_per_phone": 1234}, None),  # no tier of that size: recorded, the tier kept
        ({"max_phone_numbers_per_business": 2}, None),
    ],
)
def test_a_capability_update_names_the_tier_as_a_number_or_a_name(value: dict[str, Any], tier: str | None) -> None:
    assert _item("business_capability_update", value).messaging_limit_tier == tier


@pytest.mark.parametrize(
    ("event", "quality", "mps"),
    [
        ("FLAGGED", "RED", None),
        ("UNFLAGGED", "UNKNOWN", None),
        ("UPGRADE", None, None),
        ("THROUGHPUT_UPGRADE", None, 1000),
    ],
)
def test_a_quality_update_reads_the_rating_and_the_throughput(event: str, quality: str | None, mps: int | None) -> None:
    item = _item("phone_number_quality_update", {"display_phone_number": "15550783881", "event": event})

    assert (item.event, item.phone_number, item.quality_rating, item.throughput_mps) == (
        event,
        "15550783881",
        quality,
        mps,
    )


@pytest.mark.parametrize(
    ("value", "restriction"),
    [
        ({"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "DISABLE"}}, (True, "ban", "disabled by Meta")),
        (
            {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "REINSTATE"}},
            (False, "ban", "reinstated by Meta"),
        ),
        ({"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "SCHEDULE_FOR_DISABLE"}}, None),
        (
            {
                "event": "ACCOUNT_RESTRICTION",
                "restriction_info": [{"restriction_type": "RESTRICTED_ADD_PHONE_NUMBER_ACTION"}],
            },
            None,
        ),
        (
            {
                "event": "ACCOUNT_RESTRICTION",
                "restriction_info": {"restriction_type": "RESTRICTED_CUSTOMER_INITIATED_MESSAGING"},
            },
            (True, "restriction", "RESTRICTED_CUSTOMER_INITIATED_MESSAGING"),
        ),
        ({"event": "ACCOUNT_RESTRICTION", "restriction_info": []}, (False, "restriction", "restrictions lifted")),
        ({"event": "ACCOUNT_OFFBOARDED"}, (True, "connection", "ACCOUNT_OFFBOARDED")),
        ({"event": "ACCOUNT_RECONNECTED"}, (False, "connection", "ACCOUNT_RECONNECTED")),
        ({"event": "ACCOUNT_VIOLATION", "violation_info": {"violation_type": "SCAM"}}, None),
        ({"event": "VERIFIED_ACCOUNT"}, None),
    ],
)
def test_account_updates_restrict_or_lift_as_meta_says(
    value: dict[str, Any], restriction: tuple[bool, str, str] | None
) -> None:
    expected = None
    if restriction is not None:
        expected = Restriction(is_restricted=restriction[0], kind=restriction[1], reason=restriction[2])

    assert _item("account_update", value).restriction == expected


def test_an_account_notice_carries_the_facts_storage_acts_on() -> None:
    value = {"display_phone_number": "15550783881", "event": "DOWNGRADE", "current_limit": "TIER_250"}

    (notice,) = delivery_events(parse_webhook(_body("phone_number_quality_update", value)))

    assert notice == AccountNotice(
        platform="whatsapp",
        path="entry[0].changes[0]",
        routing_id="W1",
        raw=value,
        field="phone_number_quality_update",
        payload=value,
        event="DOWNGRADE",
        phone_number="15550783881",
        messaging_limit="TIER_250",
        daily_limit=250,
    )


def test_a_rejected_review_is_a_restricted_standing() -> None:
    (notice,) = delivery_events(parse_webhook(_body("account_review_update", {"decision": "REJECTED"})))

    assert isinstance(notice, AccountNotice)
    assert notice.standing == AccountStanding(is_restricted=True, kind="review", reason="rejected")


def test_a_known_key_of_the_wrong_type_is_a_problem_and_an_unreadable_item() -> None:
    delivery = parse_webhook(_body("phone_number_quality_update", {"event": ["FLAGGED"]}))

    assert [problem.path for problem in delivery.problems] == ["entry[0].changes[0].event"]
    assert isinstance(delivery_events(delivery)[0], UnreadableEvent)


def test_an_unknown_account_field_stays_unhandled_with_its_name() -> None:
    (event,) = delivery_events(parse_webhook(_body("flows", {"event": "FLOW_STATUS_CHANGE"})))

    assert isinstance(event, UnhandledEvent)
    assert event.reason == "unhandled_field:flows"


def test_the_entrys_time_is_when_the_change_happened_and_a_broken_one_is_only_a_problem() -> None:
    def document(time: object) -> bytes:
        change = {"field": "account_review_update", "value": {"decision": "APPROVED"}}
        entry = {"id": "W1", "time": time, "changes": [change]}
        return json.dumps({"object": "whatsapp_business_account", "entry": [entry]}).encode()

    (timed,) = parse_webhook(document(1731617831)).items
    broken = parse_webhook(document("yesterday"))

    assert isinstance(timed, AccountUpdate) and timed.occurred_at is not None
    assert timed.occurred_at.isoformat() == "2024-11-14T20:57:11+00:00"
    assert [problem.path for problem in broken.problems] == ["entry[0].time"]
    (item,) = broken.items
    assert isinstance(item, AccountUpdate) and item.occurred_at is None
