"""The event stream's API shapes: endpoints in and out, the delivery log, and the event envelope as the OpenAPI
document describes it (the same body a webhook delivery carries, see ``events.payloads``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from audit.alerts.models import Severity
from events.endpoints import MAX_REPLAY_RANGE, MAX_SECRET_OVERLAP, SUBSCRIBABLE_TYPES
from events.models import DeliveryStatus, Endpoint, PayloadMode
from events.services import Backlog
from messaging.api_representation import MessageOutputSerializer
from messaging.business_events import EventType

TYPES_HELP = f"Any of: {', '.join(f'`{event_type}`' for event_type in SUBSCRIBABLE_TYPES)}."

# --- Endpoints -----------------------------------------------------------------------------------


class BacklogOutputSerializer(serializers.Serializer[Any]):
    pending = serializers.IntegerField(help_text="Deliveries owed and not yet made.")
    oldest_undelivered_seconds = serializers.FloatField(
        allow_null=True, help_text="How long the oldest delivery still owed has waited; null: none owed."
    )
    attempts_24h = serializers.IntegerField(help_text="Attempts in the last 24 hours.")
    success_rate_24h = serializers.FloatField(
        allow_null=True, help_text="The share of those attempts answered 2xx; null: no attempt."
    )


class EndpointOutputSerializer(serializers.Serializer[Any]):
    """Never the secret: it is shown once, by creation and by rotation."""

    id = serializers.UUIDField()
    url = serializers.URLField()
    description = serializers.CharField()
    event_types = serializers.ListField(child=serializers.CharField(), help_text=TYPES_HELP)
    channel = serializers.UUIDField(source="channel_id", allow_null=True, help_text="Null: every channel.")
    payload_mode = serializers.ChoiceField(choices=PayloadMode.choices)
    is_enabled = serializers.BooleanField()
    disabled_reason = serializers.CharField(help_text="Why the gateway disabled it (empty when it did not).")
    disabled_at = serializers.DateTimeField(allow_null=True)
    failing_since = serializers.DateTimeField(allow_null=True, help_text="The first failure since the last success.")
    previous_secret_until = serializers.DateTimeField(
        allow_null=True, help_text="Deliveries carry a second signature, with the previous secret, until then."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class EndpointDetailOutputSerializer(EndpointOutputSerializer):
    backlog = BacklogOutputSerializer()


class EndpointWithSecretOutputSerializer(EndpointOutputSerializer):
    secret = serializers.CharField(
        help_text="`whsec_` and base64: the signing secret, shown this once. Keep it; it cannot be read again."
    )


class EndpointInputSerializer(serializers.Serializer[Any]):
    """The shape only; ``events.endpoints`` checks the values (types known, channel of this tenant, URL allowed)."""

    url = serializers.CharField(max_length=Endpoint._meta.get_field("url").max_length)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    event_types = serializers.ListField(child=serializers.CharField(max_length=40), help_text=TYPES_HELP)
    channel = serializers.UUIDField(required=False, allow_null=True, help_text="Only this channel's events.")
    payload_mode = serializers.ChoiceField(choices=PayloadMode.choices, required=False)
    is_enabled = serializers.BooleanField(required=False)


class RotateInputSerializer(serializers.Serializer[Any]):
    overlap_hours = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_SECRET_OVERLAP // timedelta(hours=1),
        help_text="How long deliveries also carry the previous secret's signature: 24 unless given.",
    )


class ReplayInputSerializer(serializers.Serializer[Any]):
    since = serializers.DateTimeField(help_text="ISO 8601; events recorded at or after.")
    until = serializers.DateTimeField(
        help_text=f"ISO 8601; events recorded before. At most {MAX_REPLAY_RANGE.days} days after `since`."
    )


CountOutputSerializer = inline_serializer(
    name="EventDeliveryCount", fields={"count": serializers.IntegerField(help_text="Deliveries queued.")}
)


# --- The delivery log ----------------------------------------------------------------------------


class AttemptOutputSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    event = serializers.CharField(source="delivery.event.public_id", help_text="The event's `evt_…` id.")
    event_type = serializers.CharField(source="delivery.event.type")
    delivery_status = serializers.ChoiceField(source="delivery.status", choices=DeliveryStatus.choices)
    attempted_at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True, help_text="The endpoint's HTTP status; null: none.")
    error = serializers.CharField(help_text="`timeout`, `connection`, `refused_address`…; empty with a status.")
    latency_ms = serializers.IntegerField()
    response_excerpt = serializers.CharField(help_text="The start of the endpoint's response body.")
    next_attempt_at = serializers.DateTimeField(allow_null=True, help_text="Null: no further try.")


class AttemptFilterSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(
        choices=DeliveryStatus.choices, required=False, help_text="The delivery's status now."
    )
    event = serializers.RegexField(r"^evt_[0-9a-f]{32}$", required=False, help_text="An `evt_…` id.")


# --- The envelope --------------------------------------------------------------------------------


class EventDataSerializer(serializers.Serializer[Any]):
    """What every event's ``data`` holds; facts depend on the type (docs/events.md)."""

    channel = serializers.UUIDField(allow_null=True)
    conversation = serializers.UUIDField(allow_null=True)
    contact = serializers.UUIDField(allow_null=True)
    message = serializers.UUIDField(allow_null=True)
    payload = serializers.ChoiceField(
        choices=PayloadMode.choices, help_text="`full` when `message_detail` is included, else `thin`."
    )
    status = serializers.CharField(
        required=False, help_text="`message.status`: the status reached; `message.status_parked`: the one waiting."
    )
    parked = serializers.UUIDField(
        required=False, help_text="`message.status_parked`: its id in `GET /api/v1/parked-statuses/`."
    )
    error_code = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="`message.status` failed, `channel.paused`, `channel.error`: Meta's error code.",
    )
    error_title = serializers.CharField(required=False, allow_null=True, help_text="Meta's error title.")
    direction = serializers.CharField(required=False, help_text="`message.*`: inbound or outbound.")
    type = serializers.CharField(required=False, help_text="`message.*`: the message's type.")
    platform = serializers.CharField(required=False, help_text="`message.*`: whatsapp, messenger or instagram.")
    reason = serializers.CharField(required=False, help_text="`channel.paused`: why.")
    window_expires_at = serializers.DateTimeField(
        required=False, help_text="`conversation.window_closing`: when the 24-hour window closes."
    )
    message_detail = MessageOutputSerializer(
        required=False, help_text="Full payloads only: the message as `GET /messages/<id>/` shows it."
    )
    alert = serializers.UUIDField(required=False, help_text="`security.alert`: the alert's id.")
    detector = serializers.CharField(required=False, help_text="`security.alert`: the detector that raised it.")
    severity = serializers.ChoiceField(
        choices=Severity.choices, required=False, help_text="`security.alert`: low, medium, high or critical."
    )
    title = serializers.CharField(required=False, help_text="`security.alert`: what happened, in plain words.")
    suggested_action = serializers.CharField(required=False, help_text="`security.alert`: what to do about it.")


class EventEnvelopeSerializer(serializers.Serializer[Any]):
    """One event, pushed (the webhook body) or pulled (the feed)."""

    id = serializers.CharField(help_text="`evt_` and 32 hex digits; the same on every delivery (`webhook-id`).")
    type = serializers.ChoiceField(choices=[(event_type.value, event_type.value) for event_type in EventType])
    timestamp = serializers.DateTimeField(help_text="When it happened.")
    tenant = serializers.UUIDField()
    # The metaclass takes declared fields off the class, so this does not shadow Serializer.data at runtime.
    data = EventDataSerializer()  # type: ignore[assignment]


class FeedPageSerializer(serializers.Serializer[Any]):
    results = EventEnvelopeSerializer(many=True)
    next_cursor = serializers.IntegerField(
        help_text="Pass as `after` for the next page; the same value when no event followed."
    )


class FeedFilterSerializer(serializers.Serializer[Any]):
    after = serializers.IntegerField(
        required=False, min_value=0, help_text="The `next_cursor` of the previous page; 0 or absent: the start."
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, help_text="100 unless given.")
    payload = serializers.ChoiceField(
        choices=PayloadMode.choices,
        required=False,
        help_text="`full` includes each message as the API shows it; needs `messages:read` too.",
    )


def backlog_fields(backlog: Backlog) -> dict[str, Any]:
    """``BacklogOutputSerializer``'s fields from the service's ``Backlog``."""
    age = backlog.oldest_undelivered_age
    return {
        "pending": backlog.pending,
        "oldest_undelivered_seconds": None if age is None else age.total_seconds(),
        "attempts_24h": backlog.attempts_24h,
        "success_rate_24h": backlog.success_rate_24h,
    }
