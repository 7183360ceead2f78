"""How long a tenant's data lives, as messaging needs it: without importing the policies app.

``policies`` registers a source in its ``AppConfig.ready()`` (``lifetimes_source_register``); without one,
the installation's limits apply. ``lifetimes_for`` keeps each answer in process memory for a few seconds:
hot paths (the webhook edge, inbound storing, statuses) call it per delivery or batch, and a policy change
reaches every process within that time. The rest are pure functions computing expiry moments, shared by
the writers (stamping at write time) and the status engine (recomputing on delivery and read).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings

CACHE_SECONDS = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Lifetimes:
    """The lifetimes in force for one tenant (and channel). ``None``: no such limit."""

    content_max: timedelta
    content_after_delivery: timedelta | None = None
    purge_content_on_delivery: bool = False
    disappearing_after_read: timedelta | None = None
    metadata: timedelta | None = None
    raw_delivery: timedelta
    media: timedelta

    @property
    def shortens_on_delivery(self) -> bool:
        """Whether a delivery or a read can bring the content's expiry forward."""
        return (
            self.purge_content_on_delivery
            or self.content_after_delivery is not None
            or self.disappearing_after_read is not None
        )


LifetimesSource = Callable[[uuid.UUID, uuid.UUID | None], Lifetimes]

_lock = threading.Lock()
_source: LifetimesSource | None = None
_cache: dict[tuple[uuid.UUID | None, uuid.UUID | None], tuple[float, Lifetimes]] = {}


def lifetimes_default() -> Lifetimes:
    """The installation's limits: what applies to data of no tenant (a shared app's raw deliveries), and to
    every tenant when no source is registered. Metadata is then kept: deciding that is the policies' job."""
    content_max = timedelta(days=settings.GATEWAY_CONTENT_MAX_DAYS)
    return Lifetimes(
        content_max=content_max,
        raw_delivery=timedelta(days=settings.GATEWAY_RAW_DELIVERY_DAYS),
        media=content_max,
    )


def lifetimes_source_register(source: LifetimesSource) -> None:
    """``source(tenant_id, channel_id)`` answers the lifetimes in force; the last registered wins."""
    global _source  # noqa: PLW0603 - one registry per process, set once at start-up
    with _lock:
        _source = source
        _cache.clear()


def lifetimes_cache_clear() -> None:
    with _lock:
        _cache.clear()


def lifetimes_for(*, tenant_id: uuid.UUID | None, channel_id: uuid.UUID | None = None) -> Lifetimes:
    """The lifetimes in force for a tenant's data (on one channel, when given), cached for a few seconds."""
    key = (tenant_id, channel_id)
    cached = _cache.get(key)
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        return cached[1]
    source = _source
    lifetimes = lifetimes_default() if tenant_id is None or source is None else source(tenant_id, channel_id)
    with _lock:
        _cache[key] = (now + CACHE_SECONDS, lifetimes)
    return lifetimes


# --- expiry moments (pure) -----------------------------------------------------------------------------


def content_key_day(*, written_at: datetime, lifetimes: Lifetimes) -> date:
    """The last day the content may live (UTC): its day key is the next day's and is destroyed after it."""
    return written_at.astimezone(UTC).date() + timedelta(days=lifetimes.content_max.days)


def content_expires_at(
    *,
    received_at: datetime,
    lifetimes: Lifetimes,
    delivered_at: datetime | None = None,
    read_at: datetime | None = None,
) -> datetime:
    """When the content goes: the earliest of the maximum lifetime and what a delivery or read brings forward."""
    return min([received_at + lifetimes.content_max, *content_expiry_candidates(lifetimes, delivered_at, read_at)])


def content_expiry_candidates(
    lifetimes: Lifetimes, delivered_at: datetime | None, read_at: datetime | None
) -> list[datetime]:
    """The moments a delivery and a read bring the content's expiry forward to (the earliest one wins).

    The recipient has the message from its delivery, or its read when that came first (or alone)."""
    reached = min((moment for moment in (delivered_at, read_at) if moment is not None), default=None)
    candidates: list[datetime] = []
    if reached is not None and lifetimes.purge_content_on_delivery:
        candidates.append(reached)
    if reached is not None and lifetimes.content_after_delivery is not None:
        candidates.append(reached + lifetimes.content_after_delivery)
    if read_at is not None and lifetimes.disappearing_after_read is not None:
        candidates.append(read_at + lifetimes.disappearing_after_read)
    return candidates


def metadata_expires_at(*, received_at: datetime, lifetimes: Lifetimes) -> datetime | None:
    return None if lifetimes.metadata is None else received_at + lifetimes.metadata


def media_expires_at(*, received_at: datetime, content_expires: datetime | None, lifetimes: Lifetimes) -> datetime:
    """A file never outlives its message's content."""
    return min(_present([received_at + lifetimes.media, content_expires]))


def raw_expires_at(*, received_at: datetime, lifetimes: Lifetimes) -> datetime:
    return received_at + lifetimes.raw_delivery


def _present(moments: Iterable[datetime | None]) -> list[datetime]:
    return [moment for moment in moments if moment is not None]


@dataclass(frozen=True, slots=True)
class MessageStamp:
    """The retention columns of a message written now."""

    content_expires_at: datetime
    content_key_day: date
    metadata_expires_at: datetime | None

    def as_fields(self) -> dict[str, object]:
        return {
            "content_expires_at": self.content_expires_at,
            "content_key_day": self.content_key_day,
            "metadata_expires_at": self.metadata_expires_at,
        }


def message_stamp(
    *,
    written_at: datetime,
    lifetimes: Lifetimes,
    delivered_at: datetime | None = None,
    read_at: datetime | None = None,
) -> MessageStamp:
    """The expiry of a message's content and row, counted from ``written_at`` (received, or due to be sent);
    a message written already delivered or read (an imported one) has its content's expiry brought forward."""
    return MessageStamp(
        content_expires_at=content_expires_at(
            received_at=written_at, lifetimes=lifetimes, delivered_at=delivered_at, read_at=read_at
        ),
        content_key_day=content_key_day(written_at=written_at, lifetimes=lifetimes),
        metadata_expires_at=metadata_expires_at(received_at=written_at, lifetimes=lifetimes),
    )
