"""WhatsApp Business Account (WABA) webhooks, posted signed to the real endpoint as Meta sends them (compact,
``\\/`` escaped): routed by the WABA id to that account's channels on the arrival app only, recorded on each,
acted on, and read back through the API field by field. The expectations are written by hand from the
fixtures, never computed by the parser.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR
from accounts.apikeys import api_key_issue
from accounts.models import ApiScope, Tenant
from messaging.channels import channel_add, meta_app_register
from messaging.errors import MessagingError
from messaging.models import (
    Channel,
    ChannelAlert,
    ChannelEvent,
    ChannelStatus,
    Message,
    MessageTemplate,
    MetaApp,
    QuarantinedItem,
)
from messaging.outbound.dispatch.budgets import DailyReach, daily_reach_for, send_budget_for
from messaging.outbound.dispatch.channels import channel_pause
from messaging.providers.templates import TemplateStatus
from simulator.accounts import AccountStanding, account_envelope, quality_change
from simulator.control import channel_from_json
from simulator.state import SimulatorState
from simulator.webhooks import meta_json
from webhooks.models import Delivery, DeliveryStatus
from webhooks.quarantine import quarantined_item_replay
from webhooks.services import delivery_process
from webhooks.signature import signature_for

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta" / "accounts"
SECRET = "a" * 32
WABA = "102290129340398"
NUMBERS = ("106540352242922", "106540352242923")  # two numbers of the same WABA, tenant A
OTHER_APP_NUMBER = "206540352242922"  # tenant B's number claiming the same WABA on its own app
TEMPLATE = {
    "message_template_id": 594425479261596,
    "message_template_name": "order_confirmation",
    "message_template_language": "en_US",
}
UNCHANGED: dict[str, Any] = {}

# fixture -> (field, payload as Meta sent it, what the channels show afterwards)
EXPECTED: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "account_update_disabled.json": (
        "account_update",
        {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "DISABLE", "waba_ban_date": "November 14, 2024"}},
        {"status": "paused", "paused_reason": "Meta account ban: disabled by Meta"},
    ),
    "account_update_reinstated.json": (
        "account_update",
        {
            "event": "DISABLED_UPDATE",
            "ban_info": {"waba_ban_state": "REINSTATE", "waba_ban_date": "November 15, 2024"},
        },
        UNCHANGED,  # nothing was paused, so nothing resumes
    ),
    "account_update_restriction.json": (
        "account_update",
        {
            "event": "ACCOUNT_RESTRICTION",
            "restriction_info": [
                {"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": "2024-12-14T07:09:27+0000"}
            ],
        },
        {"status": "paused", "paused_reason": "Meta account restriction: RESTRICTED_BIZ_INITIATED_MESSAGING"},
    ),
    "account_update_violation.json": (
        "account_update",
        {"event": "ACCOUNT_VIOLATION", "violation_info": {"violation_type": "SCAM"}},
        UNCHANGED,
    ),
    "account_review_update.json": ("account_review_update", {"decision": "APPROVED"}, UNCHANGED),
    "account_alerts.json": (
        "account_alerts",
        {
            "entity_type": "WABA",
            "entity_id": WABA,
            "alert_severity": "CRITICAL",
            "alert_status": "ACTIVE",
            "alert_type": "OBA_REJECTED",
            "alert_description": "Your Official Business Account request was rejected. "
            "See https://www.facebook.com/business/help",
        },
        UNCHANGED,
    ),
    "business_capability_update.json": (
        "business_capability_update",
        {"max_daily_conversation_per_phone": 2000, "max_phone_numbers_per_business": 2},
        {"messaging_limit_tier": "TIER_2K", "daily_conversation_limit": 2000},
    ),
    "phone_number_quality_update.json": (
        "phone_number_quality_update",
        {
            "display_phone_number": "15550783881",
            "event": "UPGRADE",
            "current_limit": "TIER_10K",
            "old_limit": "TIER_2K",
        },
        {"messaging_limit_tier": "TIER_10K", "daily_conversation_limit": 10000, "quality_rating": ""},
    ),
    "phone_number_quality_update_flagged.json": (
        "phone_number_quality_update",
        {"display_phone_number": "15550783881", "event": "FLAGGED", "current_limit": "TIER_2K"},
        {"quality_rating": "RED", "messaging_limit_tier": "TIER_2K", "daily_conversation_limit": 2000},
    ),
    "phone_number_quality_update_throughput.json": (
        "phone_number_quality_update",
        {"display_phone_number": "15550783881", "event": "THROUGHPUT_UPGRADE", "current_limit": "TIER_UNLIMITED"},
        {"max_messages_per_second": 1000, "messaging_limit_tier": "TIER_UNLIMITED", "daily_conversation_limit": None},
    ),
    "phone_number_name_update.json": (
        "phone_number_name_update",
        {
            "display_phone_number": "15550783881",
            "decision": "APPROVED",
            "requested_verified_name": "Lucky Shrub",
            "rejection_reason": "NONE",
        },
        {"requested_display_name": "Lucky Shrub", "display_name_status": "APPROVED"},
    ),
    "message_template_status_update.json": (
        "message_template_status_update",
        {"event": "APPROVED", **TEMPLATE, "reason": "NONE"},
        UNCHANGED,
    ),
    "message_template_quality_update.json": (
        "message_template_quality_update",
        {"previous_quality_score": "GREEN", "new_quality_score": "YELLOW", **TEMPLATE},
        UNCHANGED,
    ),
    "template_category_update.json": (
        "template_category_update",
        {**TEMPLATE, "previous_category": "UTILITY", "new_category": "MARKETING"},
        UNCHANGED,
    ),
}
BEFORE = {
    "status": "active",
    "paused_reason": "",
    "quality_rating": "",
    "messaging_limit_tier": "",
    "daily_conversation_limit": None,
    "max_messages_per_second": 80,
    "requested_display_name": "",
    "display_name_status": "",
}


@pytest.fixture
def app(tenant_a: Tenant) -> MetaApp:
    meta_app = meta_app_register(tenant=tenant_a, name="WABA", app_secret=SECRET, actor=CLI_ACTOR).meta_app
    for number in NUMBERS:
        _whatsapp(tenant_a, meta_app, number, WABA)
    return meta_app


@pytest.fixture
def other_channel(tenant_b: Tenant) -> Channel:
    """Tenant B, on its own app, says its number is in the same WABA: it never hears of tenant A's account."""
    meta_app = meta_app_register(tenant=tenant_b, name="B", app_secret=SECRET, actor=CLI_ACTOR).meta_app
    return _whatsapp(tenant_b, meta_app, OTHER_APP_NUMBER, WABA)


@pytest.fixture
def api(tenant_a: Tenant) -> APIClient:
    issued = api_key_issue(tenant=tenant_a, name="accounts", scopes=[ApiScope.MESSAGES_READ])
    client = APIClient(REMOTE_ADDR="203.0.113.9")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client


def test_the_expectations_cover_exactly_the_fixtures() -> None:
    assert set(EXPECTED) == {path.name for path in FIXTURES.glob("*.json")}


def test_the_fixtures_are_compact_and_escaped_as_meta_sends_them() -> None:
    for name in EXPECTED:
        body = (FIXTURES / name).read_text()
        assert "\n" not in body and ": " not in body, name
    assert "https:\\/\\/www.facebook.com\\/business\\/help" in (FIXTURES / "account_alerts.json").read_text()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_account_field_is_stored_acted_on_and_read_back_field_by_field(
    app: MetaApp, other_channel: Channel, api: APIClient, name: str
) -> None:
    field, payload, changed = EXPECTED[name]

    assert _post(app, (FIXTURES / name).read_bytes()) == {"account_event": 2, "problems": 0}

    for number in NUMBERS:
        channel = Channel.objects.get(provider_id=number)
        (event,) = ChannelEvent.objects.filter(channel=channel)
        assert (event.field, event.payload, event.tenant_id) == (field, payload, channel.tenant_id)
        shown = _get(api, f"/api/v1/channels/{channel.pk}/")
        assert {key: shown[key] for key in BEFORE} == {**BEFORE, **changed}
        assert shown["waba_id"] == WABA
        (listed,) = _get(api, f"/api/v1/channels/{channel.pk}/events/")["results"]
        assert (listed["id"], listed["field"], listed["payload"]) == (str(event.pk), field, payload)
    assert not ChannelEvent.objects.filter(channel=other_channel).exists()
    other_channel.refresh_from_db()
    assert (other_channel.status, other_channel.messaging_limit_tier) == ("active", "")


def test_a_channels_events_are_listed_newest_first_by_field_and_only_to_its_tenant(
    app: MetaApp, api: APIClient, other_channel: Channel, tenant_b: Tenant
) -> None:
    for name in ("account_alerts.json", "phone_number_name_update.json", "account_review_update.json"):
        _post(app, (FIXTURES / name).read_bytes())
    channel = Channel.objects.get(provider_id=NUMBERS[0])
    url = f"/api/v1/channels/{channel.pk}/events/"

    listed = [row["field"] for row in _get(api, url)["results"]]
    (named,) = _get(api, url + "?field=phone_number_name_update")["results"]
    too_long = api.get(url, {"field": "x" * 65})
    issued = api_key_issue(tenant=tenant_b, name="b", scopes=[ApiScope.MESSAGES_READ])
    other = APIClient(REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}").get(url)

    assert listed == ["account_review_update", "phone_number_name_update", "account_alerts"]
    assert named["payload"]["requested_verified_name"] == "Lucky Shrub"
    assert (too_long.status_code, too_long["Content-Type"]) == (400, "application/problem+json")
    assert other.status_code == 404


def test_a_redelivered_account_event_is_recorded_and_acted_on_once(app: MetaApp) -> None:
    body = (FIXTURES / "account_update_disabled.json").read_bytes()
    _post(app, body)

    assert _post(app, body) == {"duplicate": 2, "problems": 0}
    assert ChannelEvent.objects.count() == 2 and ChannelAlert.objects.count() == 2


def test_the_same_change_made_again_later_is_a_new_event_and_acted_on(app: MetaApp) -> None:
    flagged = (FIXTURES / "phone_number_quality_update_flagged.json").read_bytes()
    unflagged = flagged.replace(b'"FLAGGED"', b'"UNFLAGGED"').replace(b"1731617831", b"1731621431")
    flagged_again = flagged.replace(b"1731617831", b"1731625031")

    outcomes = [_post(app, body) for body in (flagged, unflagged, flagged_again)]

    assert outcomes == [{"account_event": 2, "problems": 0}] * 3
    assert Channel.objects.get(provider_id=NUMBERS[0]).quality_rating == "RED"
    assert ChannelEvent.objects.filter(channel__provider_id=NUMBERS[0]).count() == 3


def test_a_ban_pauses_every_channel_of_the_account_with_an_alert_and_its_lifting_resumes_them(app: MetaApp) -> None:
    _post(app, (FIXTURES / "account_update_disabled.json").read_bytes())
    alerts = ChannelAlert.objects.filter(channel__provider_id__in=NUMBERS)
    assert sorted(alert.error_title for alert in alerts) == ["Meta account ban: disabled by Meta"] * 2

    _post(app, (FIXTURES / "account_update_reinstated.json").read_bytes())

    assert set(Channel.objects.filter(provider_id__in=NUMBERS).values_list("status", "paused_reason")) == {
        ("active", "")
    }
    assert all(alert.resolved_at is not None for alert in alerts.all())


def test_lifting_a_restriction_never_resumes_a_channel_paused_for_another_reason(app: MetaApp) -> None:
    token_broken = Channel.objects.get(provider_id=NUMBERS[0])
    channel_pause(channel=token_broken, code=190, title="access token expired")
    _post(app, (FIXTURES / "account_update_disabled.json").read_bytes())

    _post(app, (FIXTURES / "account_update_reinstated.json").read_bytes())

    token_broken.refresh_from_db()
    assert (token_broken.status, token_broken.paused_reason) == (ChannelStatus.PAUSED, "access token expired")
    assert Channel.objects.get(provider_id=NUMBERS[1]).status == ChannelStatus.ACTIVE


def test_lifting_one_kind_of_measure_never_lifts_another(app: MetaApp) -> None:
    _post(app, (FIXTURES / "account_update_disabled.json").read_bytes())

    _post(app, (FIXTURES / "account_review_update.json").read_bytes())  # an approved review is not a reinstatement

    assert set(Channel.objects.filter(provider_id__in=NUMBERS).values_list("status", "paused_reason")) == {
        ("paused", "Meta account ban: disabled by Meta")
    }


def test_a_rejected_review_pauses_and_an_approved_one_resumes(app: MetaApp) -> None:
    rejected = (FIXTURES / "account_review_update.json").read_bytes().replace(b"APPROVED", b"REJECTED")
    _post(app, rejected)
    assert set(Channel.objects.filter(provider_id__in=NUMBERS).values_list("paused_reason", flat=True)) == {
        "Meta account review: rejected"
    }

    _post(app, (FIXTURES / "account_review_update.json").read_bytes())

    assert set(Channel.objects.filter(provider_id__in=NUMBERS).values_list("status", flat=True)) == {"active"}


def test_an_account_with_no_channel_on_the_app_is_quarantined_with_its_field(app: MetaApp) -> None:
    body = (FIXTURES / "business_capability_update.json").read_bytes().replace(WABA.encode(), b"999000111222333")

    assert _post(app, body) == {"quarantined": 1, "problems": 0}

    held = QuarantinedItem.objects.get()
    assert (held.reason, held.routing_id, held.meta_app_id) == (
        "no_channel:business_capability_update",
        "999000111222333",
        app.pk,
    )
    assert not ChannelEvent.objects.exists()


def test_a_waba_of_another_tenant_on_the_same_app_is_refused_at_channel_add(tenant_a: Tenant, tenant_b: Tenant) -> None:
    shared = meta_app_register(tenant=None, name="Shared", app_secret=SECRET, actor=CLI_ACTOR).meta_app
    _whatsapp(tenant_a, shared, NUMBERS[0], WABA)

    with pytest.raises(MessagingError, match="another tenant's on this Meta app"):
        _whatsapp(tenant_b, shared, OTHER_APP_NUMBER, WABA)
    assert _whatsapp(tenant_a, shared, NUMBERS[1], WABA).waba_id == WABA


def test_an_account_claimed_by_two_tenants_on_a_shared_app_reaches_neither(tenant_a: Tenant, tenant_b: Tenant) -> None:
    """Refused at channel_add since, but rows written before (or by hand) must still not leak."""
    shared = meta_app_register(tenant=None, name="Shared", app_secret=SECRET, actor=CLI_ACTOR).meta_app
    _whatsapp(tenant_a, shared, NUMBERS[0], WABA)
    Channel.objects.filter(pk=_whatsapp(tenant_b, shared, OTHER_APP_NUMBER, "").pk).update(waba_id=WABA)

    assert _post(shared, (FIXTURES / "account_update_disabled.json").read_bytes()) == {
        "quarantined": 1,
        "problems": 0,
    }
    assert QuarantinedItem.objects.get().reason == "waba_tenants:account_update"
    assert set(Channel.objects.values_list("status", flat=True)) == {"active"}


def test_an_account_field_without_a_place_is_kept_encrypted_in_quarantine(app: MetaApp) -> None:
    body = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": WABA, "changes": [{"field": "user_preferences", "value": {"user_preferences": []}}]}],
        }
    ).encode()

    assert _post(app, body) == {"quarantined": 1, "problems": 0}
    assert QuarantinedItem.objects.get().reason == "unhandled_field:user_preferences"


def test_the_dispatchers_budgets_follow_the_tier_and_throughput_meta_grants(app: MetaApp) -> None:
    channel = Channel.objects.get(provider_id=NUMBERS[0])
    message = Message(channel=channel, contact_id=uuid.uuid4(), message_type="template")
    assert (send_budget_for(message).channel_rate, daily_reach_for(message)) == (80, None)

    _post(app, (FIXTURES / "business_capability_update.json").read_bytes())
    message.channel = Channel.objects.get(pk=channel.pk)
    assert message.channel.updated_at > channel.updated_at
    assert daily_reach_for(message) == DailyReach(
        scope=f"account:{WABA}", recipient=str(message.contact_id), limit=2000
    )

    _post(app, (FIXTURES / "phone_number_quality_update_throughput.json").read_bytes())
    message.channel = Channel.objects.get(pk=channel.pk)
    assert (send_budget_for(message).channel_rate, daily_reach_for(message)) == (1000, None)


def test_a_quarantined_account_event_replays_once_its_account_has_a_channel(app: MetaApp, tenant_a: Tenant) -> None:
    body = (FIXTURES / "business_capability_update.json").read_bytes().replace(WABA.encode(), b"999000111222333")
    _post(app, body)
    held = QuarantinedItem.objects.get()
    channel = _whatsapp(tenant_a, app, "306540352242922", "999000111222333")

    result = quarantined_item_replay(item_id=held.pk, actor=CLI_ACTOR)

    assert (result.outcome, result.detail) == ("replayed", "account_event")
    channel.refresh_from_db()
    assert (channel.messaging_limit_tier, channel.daily_conversation_limit) == ("TIER_2K", 2000)


def test_the_admin_shows_what_meta_says_of_the_account(app: MetaApp, operator_client: Client) -> None:
    _post(app, (FIXTURES / "phone_number_quality_update_flagged.json").read_bytes())
    _post(app, (FIXTURES / "account_update_disabled.json").read_bytes())
    channel = Channel.objects.get(provider_id=NUMBERS[0])

    page = operator_client.get(reverse("admin:messaging_channel_change", args=[channel.pk])).content.decode()
    events = operator_client.get(reverse("admin:messaging_channelevent_changelist")).content.decode()

    for shown in ("RED", "TIER_2K", "2000", "Meta account ban: disabled by Meta"):
        assert shown in page
    assert "phone_number_quality_update" in events and "account_update" in events


def test_the_simulators_quality_and_tier_webhooks_move_the_gateways_channels(app: MetaApp) -> None:
    simulated = channel_from_json(
        {"provider_id": NUMBERS[0], "access_token": "t", "app_secret": SECRET, "waba_id": WABA}
    )
    standing = AccountStanding()
    flagged = quality_change(SimulatorState(), standing, simulated, "FLAGGED", "TIER_10K")
    upgraded = quality_change(SimulatorState(), standing, simulated, "THROUGHPUT_UPGRADE", None)

    for value in (flagged, upgraded):
        body = meta_json(account_envelope(simulated, "phone_number_quality_update", value))
        assert _post(app, body) == {"account_event": 2, "problems": 0}

    channel = Channel.objects.get(provider_id=NUMBERS[0])
    assert (channel.quality_rating, channel.messaging_limit_tier, channel.max_messages_per_second) == (
        "RED",
        "TIER_10K",
        1000,
    )


# --- posting and reading ---------------------------------------------------------------------------


def _whatsapp(tenant: Tenant, meta_app: MetaApp, number: str, waba_id: str) -> Channel:
    return channel_add(
        tenant=tenant,
        meta_app=meta_app,
        platform="whatsapp",
        provider_id=number,
        access_token="t" * 40,
        actor=CLI_ACTOR,
        waba_id=waba_id,
    )


def _post(app: MetaApp, body: bytes) -> dict[str, int]:
    """Signed POST to the real endpoint, then the processing the `ingest` worker runs for that delivery."""
    before = set(Delivery.objects.values_list("pk", flat=True))
    response = Client().post(
        f"/webhooks/meta/{app.app_key}/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature_for(SECRET, body),
    )
    assert response.status_code == 200
    (delivery,) = Delivery.objects.exclude(pk__in=before)
    outcome = dict(delivery_process(delivery_id=delivery.pk))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PROCESSED
    return outcome


def _get(api: APIClient, url: str) -> dict[str, Any]:
    response = api.get(url)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def test_template_news_moves_the_accounts_templates_of_that_tenant_only(
    app: MetaApp, other_channel: Channel, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    ours, theirs = (
        MessageTemplate.objects.create(
            tenant=tenant,
            waba_id=WABA,
            name="order_confirmation",
            language="en_US",
            provider_template_id=str(TEMPLATE["message_template_id"]),
            status=TemplateStatus.PENDING,
            quality_score="GREEN",
        )
        for tenant in (tenant_a, tenant_b)
    )

    _post(app, (FIXTURES / "message_template_status_update.json").read_bytes())
    _post(app, (FIXTURES / "message_template_quality_update.json").read_bytes())

    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert (ours.status, ours.quality_score) == (TemplateStatus.APPROVED, "YELLOW")
    assert (theirs.status, theirs.quality_score) == (TemplateStatus.PENDING, "GREEN")  # another app's tenant
