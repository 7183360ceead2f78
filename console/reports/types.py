"""The parts of a transparency report's figures: frozen, made of strings, whole numbers and tuples only, so their
canonical JSON (console.reports.digest) is the same wherever it is computed again."""

from __future__ import annotations

from dataclasses import dataclass

# Ages of the data held, in days: [0, 1), [1, 7), [7, 30), [30, 90), [90, 365), [365, ∞).
AGE_BOUNDS_DAYS = (1, 7, 30, 90, 365)
AGE_LABELS = ("under 1 day", "1 to 7 days", "7 to 30 days", "30 to 90 days", "90 to 365 days", "over 365 days")


@dataclass(frozen=True, slots=True)
class LabelCount:
    label: str
    count: int


@dataclass(frozen=True, slots=True)
class MessageCount:
    platform: str
    direction: str
    count: int


@dataclass(frozen=True, slots=True)
class Holding:
    """Rows of one kind held now, and how many fall in each age bucket (``AGE_LABELS``)."""

    kind: str
    total: int
    by_age: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PolicyChange:
    occurred_at: str
    scope: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RetentionFigures:
    """The tenant's policy in force now (``source``: tenant, or default), its channel overrides, and its changes."""

    source: str
    values: tuple[LabelCount, ...]
    channel_overrides: int
    changes: tuple[PolicyChange, ...]


@dataclass(frozen=True, slots=True)
class PurgeFigures:
    runs: int
    removed: tuple[LabelCount, ...]
    keys_destroyed: int
    keys_destroyed_by_purpose: tuple[LabelCount, ...]


@dataclass(frozen=True, slots=True)
class SubjectFigures:
    """Exports asked for in the period, what became of them and how long building took; erasures done."""

    exports_requested: int
    exports_ready: int
    exports_failed: int
    export_seconds_median: int | None
    export_seconds_max: int | None
    erasures: int
    erasures_refused: int


@dataclass(frozen=True, slots=True)
class HoldFigures:
    placed: int
    released: int
    active_now: int


@dataclass(frozen=True, slots=True)
class AccessFigures:
    """Logins of the tenant's members (staff), and of operators, who may reach every tenant."""

    member_logins: int
    members_logged_in: int
    operator_logins: int


@dataclass(frozen=True, slots=True)
class WebhookFigures:
    """Deliveries on the tenant's own Meta apps received in the period and still held; acknowledgement latency
    (arrival to recorded, where recorded); processing latency (received to processed); availability: the share
    of minutes with deliveries in which all were processed."""

    deliveries: int
    processed: int
    failed: int
    waiting: int
    ack_ms_median: int | None
    ack_ms_p95: int | None
    ack_ms_max: int | None
    latency_ms_median: int | None
    latency_ms_p95: int | None
    latency_ms_max: int | None
    minutes_with_deliveries: int
    minutes_all_processed: int
    availability_percent: str | None
