"""WhatsApp Business Account webhooks on demand, and the quality and tier changes Meta makes to a number.

``POST /_sim/accounts/webhook`` posts any account-level change (``field`` + ``value``) for a channel's WABA;
``/_sim/accounts/quality`` and ``/_sim/accounts/tier`` change what the simulator itself enforces for the
number (a ``THROUGHPUT_UPGRADE`` raises its send rate to 1,000 messages per second) and post the webhook
Meta sends for it. ``GET /_sim/accounts`` shows each number's quality rating and tier.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from simulator.control import SENDER, STATE, ControlError, channel_get, control_view, json_body, optional_text, text
from simulator.state import WHATSAPP, Channel, SimulatorState, ThroughputWindow
from simulator.webhooks import WebhookSender

# Meta's messaging limit tiers and the daily business-initiated conversations each allows.
TIERS = {"TIER_250": 250, "TIER_2K": 2_000, "TIER_10K": 10_000, "TIER_100K": 100_000, "TIER_UNLIMITED": None}
QUALITY_EVENTS = frozenset({"FLAGGED", "UNFLAGGED", "UPGRADE", "DOWNGRADE", "THROUGHPUT_UPGRADE", "ONBOARDING"})
QUALITY_AFTER = {"FLAGGED": "RED", "UNFLAGGED": "GREEN"}
UPGRADED_MPS = 1_000


@dataclass(slots=True)
class AccountStanding:
    """What Meta says of one number: its quality rating and messaging limit tier."""

    quality_rating: str = "GREEN"
    tier: str = "TIER_250"

    def public(self) -> dict[str, object]:
        return {"quality_rating": self.quality_rating, "tier": self.tier, "daily_limit": TIERS.get(self.tier)}


# provider_id -> (the channel it was set for, its standing): a channel added again starts afresh.
STANDINGS = web.AppKey("account_standings", dict)


def account_envelope(channel: Channel, field: str, value: dict[str, Any]) -> dict[str, Any]:
    """One account-level change as Meta sends it: ``entry[].id`` is the WABA id, with the time of the change."""
    change = {"value": value, "field": field}
    return {
        "entry": [{"id": channel.waba_id, "time": int(time.time()), "changes": [change]}],
        "object": "whatsapp_business_account",
    }


def account_webhook_send(sender: WebhookSender, channel: Channel, field: str, value: dict[str, Any]) -> None:
    if channel.webhook_url is None:
        raise ControlError("the channel has no webhook_url")
    sender.submit(channel, account_envelope(channel, field, value), items=1)


def quality_change(
    state: SimulatorState, standing: AccountStanding, channel: Channel, event: str, tier: str | None
) -> dict[str, Any]:
    """Apply a quality event to the number and return the ``phone_number_quality_update`` value for it."""
    if event not in QUALITY_EVENTS:
        raise ControlError(f"event must be one of {sorted(QUALITY_EVENTS)}")
    if tier is not None and tier not in TIERS:
        raise ControlError(f"current_limit must be one of {sorted(TIERS)}")
    standing.quality_rating = QUALITY_AFTER.get(event, standing.quality_rating)
    value: dict[str, Any] = {"display_phone_number": channel.display_phone_number, "event": event}
    if tier is not None:
        value["old_limit"] = standing.tier
        standing.tier = tier
    value["current_limit"] = standing.tier
    if event == "THROUGHPUT_UPGRADE":
        channel.mps = UPGRADED_MPS
        state.throughput[channel.provider_id] = ThroughputWindow(channel.mps, is_sliding=state.is_sliding_window)
    return value


def _whatsapp_channel(request: web.Request, data: Any) -> tuple[Channel, AccountStanding]:
    if not isinstance(data, dict):
        raise ControlError("the body must be a JSON object")
    channel = channel_get(request.app[STATE], text(data, "provider_id"))
    if channel.platform != WHATSAPP:
        raise ControlError("account webhooks are WhatsApp's: the channel must be a WhatsApp number")
    standings = request.app[STANDINGS]
    known = standings.get(channel.provider_id)
    if known is None or known[0] is not channel:  # a number added again (after a reset) starts afresh
        known = standings[channel.provider_id] = (channel, AccountStanding())
    return channel, known[1]


async def account_webhook_post(request: web.Request) -> web.Response:
    data = await json_body(request)
    channel, _ = _whatsapp_channel(request, data)
    value = data.get("value")
    if not isinstance(value, dict):
        raise ControlError("value must be a JSON object")
    account_webhook_send(request.app[SENDER], channel, text(data, "field"), value)
    return web.json_response({"queued": 1, "waba_id": channel.waba_id}, status=202)


async def quality_post(request: web.Request) -> web.Response:
    data = await json_body(request)
    channel, standing = _whatsapp_channel(request, data)
    tier = optional_text(data, "current_limit")
    value = quality_change(request.app[STATE], standing, channel, text(data, "event"), tier)
    account_webhook_send(request.app[SENDER], channel, "phone_number_quality_update", value)
    return web.json_response({"queued": 1, "mps": channel.mps, **standing.public()}, status=202)


async def tier_post(request: web.Request) -> web.Response:
    data = await json_body(request)
    channel, standing = _whatsapp_channel(request, data)
    tier = text(data, "tier")
    if tier not in TIERS:
        raise ControlError(f"tier must be one of {sorted(TIERS)}")
    standing.tier = tier
    daily = TIERS[tier]
    value: dict[str, Any] = {"max_daily_conversations_per_business": tier}
    if daily is not None:
        value["max_daily_conversation_per_phone"] = daily
    account_webhook_send(request.app[SENDER], channel, "business_capability_update", value)
    return web.json_response({"queued": 1, **standing.public()}, status=202)


async def standings_get(request: web.Request) -> web.Response:
    state = request.app[STATE]
    standings = request.app[STANDINGS].items()
    return web.json_response(
        {
            provider_id: standing.public()
            for provider_id, (channel, standing) in standings
            if state.channels.get(provider_id) is channel
        }
    )


def routes_add(app: web.Application) -> None:
    app[STANDINGS] = {}
    for method, path, view in (
        ("POST", "/_sim/accounts/webhook", account_webhook_post),
        ("POST", "/_sim/accounts/quality", quality_post),
        ("POST", "/_sim/accounts/tier", tier_post),
        ("GET", "/_sim/accounts", standings_get),
    ):
        app.router.add_route(method, path, control_view(view))
