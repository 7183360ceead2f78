"""Managing a tenant's endpoints, for the API and the admin alike: one validation, and one audit event per change.

The secret is generated here and returned once, by creation and by rotation; nothing else ever returns it.
Audit details name fields, counts and the URL's host, never the URL itself (a query string may hold a token)
nor a secret. Sending, signing and replaying belong to ``events.services``; this module only checks what a
tenant asks for and records that it asked.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import QuerySet

from accounts.actors import Actor
from accounts.models import Tenant
from audit.models import AuditAction
from audit.services import audit_record
from events import services, signing, transport
from events.models import Endpoint, Event, PayloadMode
from messaging.business_events import EventType
from messaging.models import Channel

SUBSCRIBABLE_TYPES = tuple(event_type.value for event_type in EventType if event_type != EventType.PING)
DEFAULT_SECRET_OVERLAP = timedelta(hours=24)
MAX_SECRET_OVERLAP = timedelta(hours=168)
MAX_REPLAY_RANGE = timedelta(days=31)
EDITABLE_FIELDS = ("url", "description", "event_types", "channel", "payload_mode", "is_enabled")


class EndpointError(ValueError):
    """A refused value; ``field`` names it and the message is safe to show to the tenant."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class EndpointWithSecret:
    """The only object that holds an endpoint's secret in the clear: hand it to the caller once."""

    endpoint: Endpoint
    secret: str = field(repr=False)


# --- Selectors -----------------------------------------------------------------------------------


def endpoint_list(*, tenant: Tenant) -> QuerySet[Endpoint]:
    # The secrets are never needed to describe an endpoint: they stay sealed and unloaded.
    return Endpoint.objects.filter(tenant=tenant).defer("secret", "previous_secret")


def endpoint_get(*, tenant: Tenant, endpoint_id: uuid.UUID) -> Endpoint:
    """Raises Endpoint.DoesNotExist for a missing id and for another tenant's id alike."""
    return endpoint_list(tenant=tenant).get(pk=endpoint_id)


# --- Validation ----------------------------------------------------------------------------------


def event_types_clean(event_types: Iterable[str]) -> list[str]:
    """Known types a tenant may subscribe to, without duplicates, in the order given; at least one."""
    if isinstance(event_types, str):
        raise EndpointError("event_types", "Give a list of event types, not one string.")
    unique = list(dict.fromkeys(str(event_type) for event_type in event_types))
    if not unique:
        raise EndpointError("event_types", "Subscribe to at least one event type.")
    unknown = [event_type for event_type in unique if event_type not in SUBSCRIBABLE_TYPES]
    if unknown:
        known = ", ".join(SUBSCRIBABLE_TYPES)
        raise EndpointError("event_types", f"Unknown event type(s): {', '.join(unknown)}; known: {known}.")
    return unique


def url_clean(url: str) -> str:
    url = url.strip()
    max_length = Endpoint._meta.get_field("url").max_length or 0
    if not url or len(url) > max_length:
        raise EndpointError("url", f"Give a URL of 1 to {max_length} characters.")
    refusal = transport.endpoint_url_check(url)
    if refusal is not None:
        raise EndpointError("url", f"This URL may not receive events ({refusal}).")
    return url


def channel_clean(*, tenant: Tenant, channel_id: uuid.UUID | None) -> Channel | None:
    if channel_id is None:
        return None
    channel: Channel | None = Channel.objects.filter(tenant=tenant, pk=channel_id).defer("access_token").first()
    if channel is None:
        raise EndpointError("channel", "No such channel in this tenant.")
    return channel


def overlap_clean(hours: int | None) -> timedelta:
    overlap = DEFAULT_SECRET_OVERLAP if hours is None else timedelta(hours=hours)
    if not timedelta(0) <= overlap <= MAX_SECRET_OVERLAP:
        raise EndpointError("overlap_hours", f"Give 0 to {MAX_SECRET_OVERLAP // timedelta(hours=1)} hours.")
    return overlap


def replay_range_clean(since: datetime, until: datetime) -> None:
    if until <= since:
        raise EndpointError("until", "Must be later than since.")
    if until - since > MAX_REPLAY_RANGE:
        raise EndpointError("until", f"Replay at most {MAX_REPLAY_RANGE.days} days at once.")


def _value_clean(tenant: Tenant, name: str, value: Any) -> Any:
    if name == "url":
        return url_clean(str(value))
    if name == "event_types":
        return event_types_clean(value)
    if name == "channel":
        return channel_clean(tenant=tenant, channel_id=value.pk if isinstance(value, Channel) else value)
    if name == "payload_mode" and value not in PayloadMode.values:
        raise EndpointError("payload_mode", f"One of: {', '.join(PayloadMode.values)}.")
    if name == "description":
        return str(value).strip()
    return value


# --- Changes -------------------------------------------------------------------------------------


def endpoint_create(
    *, tenant: Tenant, values: Mapping[str, Any], actor: Actor, created_by_id: uuid.UUID | None = None
) -> EndpointWithSecret:
    """A new endpoint from ``values`` (``EDITABLE_FIELDS``; url and event_types required) and its first secret."""
    clean = {name: _value_clean(tenant, name, value) for name, value in values.items() if name in EDITABLE_FIELDS}
    for required in ("url", "event_types"):
        if required not in clean:
            raise EndpointError(required, "This field is required.")
    secret = signing.endpoint_secret_new()
    with transaction.atomic():
        endpoint = Endpoint.objects.create(tenant=tenant, secret=secret, created_by_id=created_by_id, **clean)
        _audit(AuditAction.EVENT_ENDPOINT_CREATED, endpoint, actor, types=" ".join(endpoint.event_types))
    return EndpointWithSecret(endpoint=endpoint, secret=secret)


def endpoint_change(*, endpoint: Endpoint, values: Mapping[str, Any], actor: Actor) -> Endpoint:
    """Set the given ``EDITABLE_FIELDS``; enabling a disabled endpoint clears why and since when it failed, and
    what waits for it is due again."""
    clean = {
        name: _value_clean(endpoint.tenant, name, value) for name, value in values.items() if name in EDITABLE_FIELDS
    }
    changed = [name for name, value in clean.items() if getattr(endpoint, name) != value]
    if not changed:
        return endpoint
    is_enabling = clean.get("is_enabled") is True and not endpoint.is_enabled
    if is_enabling:
        del clean["is_enabled"]  # through the service, which also resets the failure clock
    for name, value in clean.items():
        setattr(endpoint, name, value)
    with transaction.atomic():
        endpoint.save(update_fields=[*clean, "updated_at"])
        if is_enabling:
            services.endpoint_enable(endpoint=endpoint)
        _audit(AuditAction.EVENT_ENDPOINT_CHANGED, endpoint, actor, fields=" ".join(changed))
    return endpoint


def endpoint_delete(*, endpoint: Endpoint, actor: Actor) -> None:
    with transaction.atomic():
        _audit(AuditAction.EVENT_ENDPOINT_DELETED, endpoint, actor)
        endpoint.delete()


def endpoint_secret_rotate(*, endpoint: Endpoint, overlap: timedelta, actor: Actor) -> EndpointWithSecret:
    """A new secret; deliveries carry both signatures for ``overlap``."""
    with transaction.atomic():
        secret = signing.endpoint_secret_rotate(endpoint, overlap=overlap)
        _audit(AuditAction.EVENT_ENDPOINT_SECRET_ROTATED, endpoint, actor, overlap_hours=overlap // timedelta(hours=1))
    return EndpointWithSecret(endpoint=endpoint, secret=secret)


def endpoint_test(*, endpoint: Endpoint, actor: Actor) -> None:
    """A ``ping`` to this endpoint only."""
    with transaction.atomic():
        services.endpoint_test_send(endpoint=endpoint)
        _audit(AuditAction.EVENT_ENDPOINT_TESTED, endpoint, actor)


def endpoint_events_replay(*, endpoint: Endpoint, since: datetime, until: datetime, actor: Actor) -> int:
    """Every event of the endpoint's subscription recorded in [since, until) again; returns how many."""
    replay_range_clean(since, until)
    with transaction.atomic():
        count = services.endpoint_replay(endpoint=endpoint, since=since, until=until)
        _audit(
            AuditAction.EVENTS_REPLAYED,
            endpoint,
            actor,
            since=since.isoformat(),
            until=until.isoformat(),
            count=count,
        )
    return count


def endpoint_failed_resend(*, endpoint: Endpoint, actor: Actor) -> int:
    """Every delivery to this endpoint that used up its retries, tried again; returns how many."""
    with transaction.atomic():
        count = services.endpoint_failed_resend(endpoint=endpoint)
        _audit(AuditAction.EVENTS_RESENT, endpoint, actor, count=count)
    return count


def event_replay(*, event: Event, endpoint: Endpoint, actor: Actor) -> None:
    """One event to one endpoint of its tenant again."""
    if event.tenant_id != endpoint.tenant_id:
        raise EndpointError("endpoint", "No such endpoint in this tenant.")
    with transaction.atomic():
        services.event_replay(event=event, endpoint=endpoint)
        _audit(AuditAction.EVENTS_REPLAYED, endpoint, actor, event=event.public_id, count=1)


def _audit(action: str, endpoint: Endpoint, actor: Actor, **details: str | int) -> None:
    audit_record(
        action=action,
        tenant_id=endpoint.tenant_id,
        actor_id=actor.user_id,
        actor_label=actor.label,
        ip=actor.ip,
        target_type="event_endpoint",
        target_id=str(endpoint.pk),
        details={"host": urlsplit(endpoint.url).hostname or "", **details},
    )
