"""The messaging limit tier Meta grants, as the dispatcher's daily budget: a business-initiated send (a template
outside the reply window) takes its recipient's place in the account's moving day, or waits."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from messaging.channels import channel_add, meta_app_register
from messaging.models import Channel, Conversation, Message, MessageStatus
from messaging.outbound.dispatch.budgets import DailyReach, budgets_take, tickets_for
from messaging.outbound.dispatch.lease import Leased, messages_lease
from tests.messaging.dispatch_support import queued_messages, template_content, text_content

pytestmark = pytest.mark.django_db
WABA = "102290129340398"


@pytest.fixture
def channel(tenant_a: Tenant) -> Channel:
    app = meta_app_register(tenant=tenant_a, name="Limits", app_secret="s" * 32, actor=CLI_ACTOR).meta_app
    return channel_add(
        tenant=tenant_a,
        meta_app=app,
        platform="whatsapp",
        provider_id="106540352242922",
        access_token="t" * 40,
        actor=CLI_ACTOR,
        waba_id=WABA,
    )


def _tier(channel: Channel, tier: str, daily: int | None) -> None:
    """What a ``business_capability_update`` leaves on the channel (tests/webhooks/test_account_events.py)."""
    Channel.objects.filter(pk=channel.pk).update(messaging_limit_tier=tier, daily_conversation_limit=daily)


def _leased(messages: list[Message]) -> dict[uuid.UUID, Leased]:
    return messages_lease(message_ids=[message.pk for message in messages], now=timezone.now())


def test_a_template_outside_the_window_takes_the_tiers_daily_budget(channel: Channel) -> None:
    _tier(channel, "TIER_2K", 2000)
    (template,) = queued_messages(channel, ["16505551234"], content=template_content(channel))

    (ticket,) = tickets_for(_leased([template]))

    assert ticket.reach == DailyReach(scope=f"account:{WABA}", recipient=str(template.contact_id), limit=2000)


def test_the_budget_follows_a_tier_change_and_an_unlimited_tier_has_none(channel: Channel) -> None:
    first, second = queued_messages(channel, ["16505551234", "16505551235"], content=template_content(channel))
    _tier(channel, "TIER_10K", 10000)
    (ticket,) = tickets_for(_leased([first]))
    _tier(channel, "TIER_UNLIMITED", None)
    (unlimited,) = tickets_for(_leased([second]))

    assert ticket.reach is not None and ticket.reach.limit == 10000
    assert unlimited.reach is None


def test_replies_and_templates_inside_the_window_take_no_daily_budget(channel: Channel) -> None:
    _tier(channel, "TIER_250", 250)
    (text,) = queued_messages(channel, ["16505551234"], content=text_content())
    (template,) = queued_messages(channel, ["16505551235"], content=template_content(channel))
    Conversation.objects.filter(contact_id=template.contact_id).update(last_inbound_at=timezone.now())

    assert [ticket.reach for ticket in tickets_for(_leased([text, template]))] == [None, None]


def test_a_send_over_the_daily_limit_waits_without_using_a_retry(channel: Channel) -> None:
    _tier(channel, "TIER_250", 1)  # one recipient a day, so that the second is over
    first, second = queued_messages(channel, ["16505551234", "16505551235"], content=template_content(channel))
    outcomes: Counter[str] = Counter()

    granted, _ = budgets_take(tickets_for(_leased([first, second])), outcomes)

    assert [ticket.message.pk for ticket in granted] == [first.pk]
    assert outcomes["throttled_by_daily_limit"] == 1
    second.refresh_from_db()
    assert (second.status, second.attempt_count) == (MessageStatus.QUEUED, 0)
    assert second.next_attempt_at is not None
    assert second.next_attempt_at > timezone.now() + timedelta(hours=23)
