"""Account-level news (a WhatsApp Business Account's): routed by the account id to the channels of that
account on the app it arrived on, recorded on each as a channel event, then acted on through
``ACCOUNT_HANDLERS``, the one place that says what each field does.

Routing never crosses an app or a tenant: only channels of the arrival app count, and an account whose
channels there belong to more than one tenant is quarantined (``waba_tenants:<field>``), as is an account
with no channel (``no_channel:<field>``). A redelivered event is recorded once and acted on once.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from audit.alerts.detectors.reputation import meta_quality_rating_observe, template_rejection_observe
from messaging.inbound.notices import channel_event_record
from messaging.message_templates import template_newly_rejected, templates_apply_account_event
from messaging.models import Channel, MetaApp
from messaging.providers.events import AccountNotice, AccountStanding, NeutralEvent

AccountHandler = Callable[[Channel, AccountNotice], None]
StandingAction = Callable[[Channel, AccountStanding], bool]

AccountTargets = list[tuple[list[Channel], AccountNotice]]
QUALITY_FIELD = "phone_number_quality_update"


def account_channels_of(meta_app: MetaApp, events: Sequence[NeutralEvent]) -> dict[tuple[str, str], list[Channel]]:
    """The channels of each account the events name, on this app only: one query per delivery."""
    account_ids = {event.routing_id for event in events if isinstance(event, AccountNotice) and event.routing_id}
    if not account_ids:
        return {}
    found: dict[tuple[str, str], list[Channel]] = defaultdict(list)
    channels = Channel.objects.filter(meta_app=meta_app, waba_id__in=account_ids).select_related("tenant")
    for channel in channels.order_by("created_at"):
        found[(channel.platform, channel.waba_id)].append(channel)
    return found


def account_refusal(event: AccountNotice, channels: Sequence[Channel]) -> str | None:
    """Why the event reaches none of these channels (a quarantine reason), or None when it reaches them all."""
    if not channels:
        return f"no_channel:{event.field}"[:64]
    if len({channel.tenant_id for channel in channels}) > 1:
        return f"waba_tenants:{event.field}"[:64]
    return None


def account_notices_store(targets: AccountTargets, received_at: datetime) -> Counter[str]:
    """Each event recorded on each of its channels; a new record is acted on by its field's handler."""
    outcomes: Counter[str] = Counter()
    for channels, event in targets:
        for channel in channels:
            outcome = channel_event_record(
                channel, event.field, event.payload, received_at, occurred_at=event.occurred_at
            )
            outcomes["account_event" if outcome == "channel_event" else outcome] += 1
            if outcome == "channel_event":
                account_handler_for(event.field)(channel, event)
    return outcomes


# --- what each field does ------------------------------------------------------------------------


def recorded_only(channel: Channel, event: AccountNotice) -> None:
    """Recorded (and shown in the API and the admin), nothing else changes."""


def template_apply(channel: Channel, event: AccountNotice) -> None:
    """Template news (status, quality, category): the account's templates of the channel's tenant follow it; a
    rejection is counted by the template rejections detector."""
    rejected = template_newly_rejected(
        tenant=channel.tenant, waba_id=channel.waba_id, field=event.field, value=event.payload
    )
    templates_apply_account_event(
        waba_id=channel.waba_id, field=event.field, value=event.payload, tenant=channel.tenant
    )
    if rejected is not None:
        template_rejection_observe(tenant_id=channel.tenant_id, channel_id=channel.pk, template_id=rejected)


def limits_apply(channel: Channel, event: AccountNotice) -> None:
    """Quality rating, messaging limit tier and throughput, as far as the event names them. The tier limits
    business-initiated conversations per 24 h; the throughput is the send rate the dispatcher's budget uses."""
    changes: dict[str, object] = {}
    if event.quality_rating is not None:
        changes["quality_rating"] = event.quality_rating
    if event.messaging_limit is not None:
        changes["messaging_limit_tier"] = event.messaging_limit
        changes["daily_conversation_limit"] = event.daily_limit
    if event.throughput_mps is not None:
        changes["max_messages_per_second"] = event.throughput_mps
    _channel_update(channel, changes)
    fell = "RED" if event.quality_rating == "RED" else event.event
    if event.field == QUALITY_FIELD and fell:
        meta_quality_rating_observe(tenant_id=channel.tenant_id, channel_id=channel.pk, rating=fell)


def standing_apply(channel: Channel, event: AccountNotice) -> None:
    """A restriction or ban pauses the channel with an alert and its reason; its lifting resumes a channel
    that the same kind of measure paused (never one paused for another reason)."""
    standing = event.standing
    if standing is None:
        return
    action = _standing["pause"] if standing.is_restricted else _standing["lift"]
    action(channel, standing)


def display_name_apply(channel: Channel, event: AccountNotice) -> None:
    changes: dict[str, object] = {}
    if event.display_name is not None:
        changes["requested_display_name"] = event.display_name[:200]
    if event.display_name_status is not None:
        changes["display_name_status"] = event.display_name_status[:32]
    _channel_update(channel, changes)


# The one dispatch point: a field with no entry is recorded only.
ACCOUNT_HANDLERS: dict[str, AccountHandler] = {
    "message_template_status_update": template_apply,
    "message_template_quality_update": template_apply,
    "template_category_update": template_apply,
    "phone_number_quality_update": limits_apply,
    "business_capability_update": limits_apply,
    "account_update": standing_apply,
    "account_review_update": standing_apply,
    "account_alerts": recorded_only,
    "phone_number_name_update": display_name_apply,
}


def account_handler_for(field: str) -> AccountHandler:
    return ACCOUNT_HANDLERS.get(field, recorded_only)


def _channel_update(channel: Channel, changes: dict[str, object]) -> None:
    if not changes:
        return
    changes["updated_at"] = timezone.now()
    Channel.objects.filter(pk=channel.pk).update(**changes)
    for name, value in changes.items():
        setattr(channel, name, value)


# Pausing and resuming belong to the sending side, which this module may not import: the messaging app
# registers them at start-up (messaging/apps.py).
def _unregistered(channel: Channel, standing: AccountStanding) -> bool:
    raise ImproperlyConfigured("channel standing actions are not registered")


_standing: dict[str, StandingAction] = {"pause": _unregistered, "lift": _unregistered}


def channel_standing_register(*, pause: StandingAction, lift: StandingAction) -> None:
    _standing.update(pause=pause, lift=lift)
