"""WhatsApp Business Account (WABA) level webhooks: every ``changes[].field`` other than ``messages``, whose
``entry[].id`` is the WABA id, as one typed item (``AccountUpdate``) with the facts of its field read.

What each field means for the gateway is decided here, from Meta's words, and handed to storage as plain
facts: the quality rating, the messaging limit tier (business-initiated conversations per 24 h, not a rate),
the throughput Meta grants (messages per second), a restriction or its lifting, the display name's decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Literal, TypedDict

from messaging.providers.jsonread import JsonObject, PayloadError, as_object, get, get_id, join

TEMPLATE_FIELDS = frozenset(
    {"message_template_status_update", "message_template_quality_update", "template_category_update"}
)
# Account news with no customer content: recorded as account events. Any other account-level field
# (history, echoes, calls…) may carry conversations, so it is quarantined encrypted, never stored in clear.
ACCOUNT_FIELDS = TEMPLATE_FIELDS | frozenset(
    {
        "phone_number_quality_update",
        "phone_number_name_update",
        "account_update",
        "account_review_update",
        "account_alerts",
        "business_capability_update",
        "security",
    }
)

# Meta's messaging limit tiers: business-initiated conversations (unique users) per moving 24 h.
TIER_DAILY_LIMITS: dict[str, int | None] = {
    "TIER_50": 50,
    "TIER_250": 250,
    "TIER_1K": 1_000,
    "TIER_2K": 2_000,
    "TIER_10K": 10_000,
    "TIER_100K": 100_000,
    "TIER_UNLIMITED": None,
}
UPGRADED_THROUGHPUT_MPS = 1_000  # ``THROUGHPUT_UPGRADE``: the number may send 1,000 messages per second
QUALITY_RATINGS = frozenset({"GREEN", "YELLOW", "RED", "UNKNOWN"})
PAUSING_RESTRICTIONS = frozenset({"RESTRICTED_BIZ_INITIATED_MESSAGING", "RESTRICTED_CUSTOMER_INITIATED_MESSAGING"})
PAUSING_ACCOUNT_EVENTS = frozenset({"ACCOUNT_DELETED", "ACCOUNT_OFFBOARDED", "PARTNER_REMOVED"})
LIFTING_ACCOUNT_EVENTS = frozenset({"ACCOUNT_RECONNECTED"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Restriction:
    """The account may no longer send (``is_restricted``), or may again, for one ``kind`` of measure (a ban,
    a messaging restriction, the account review, the account's connection to the app): lifting one kind never
    lifts another. ``reason`` names Meta's words."""

    is_restricted: bool
    kind: str
    reason: str


class _Facts(TypedDict, total=False):
    quality_rating: str | None
    messaging_limit_tier: str | None
    throughput_mps: int | None
    restriction: Restriction
    display_name: str | None
    display_name_status: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountUpdate:
    """One account-level change of a WABA; ``raw`` is its ``value`` as Meta sent it."""

    kind: Literal["whatsapp.account"] = dataclass_field(default="whatsapp.account", init=False)
    path: str
    waba_id: str
    field: str
    occurred_at: datetime | None = None
    event: str | None = None
    phone_number: str | None = None
    quality_rating: str | None = None
    messaging_limit_tier: str | None = None
    throughput_mps: int | None = None
    restriction: Restriction | None = None
    display_name: str | None = None
    display_name_status: str | None = None
    raw: JsonObject = dataclass_field(repr=False)

    @property
    def platform(self) -> Literal["whatsapp"]:
        return "whatsapp"

    @property
    def routing_id(self) -> str:
        return self.waba_id

    @property
    def is_echo(self) -> bool:
        return False


def account_update(
    field: str, value: JsonObject, path: str, waba_id: str, *, occurred_at: datetime | None = None
) -> AccountUpdate:
    """The change's facts by its field; a known key of the wrong type raises ``PayloadError``. ``occurred_at`` is
    the entry's ``time``: the same change made twice (flagged, unflagged, flagged again) is two changes."""
    reader = _READERS.get(field)
    facts: _Facts = reader(value, path) if reader is not None else {}
    return AccountUpdate(
        path=path,
        waba_id=waba_id,
        field=field,
        occurred_at=occurred_at,
        event=get(value, "event", path, str),
        phone_number=get_id(value, "display_phone_number", path),
        raw=value,
        **facts,
    )


def daily_limit_of(tier: str) -> int | None:
    """Business-initiated conversations a tier allows per 24 h; None for unlimited (or a tier not known)."""
    return TIER_DAILY_LIMITS.get(tier)


def tier_of(limit: int) -> str | None:
    """The tier a numeric ``max_daily_conversation_per_phone`` names (Meta sends both forms)."""
    return next((tier for tier, daily in TIER_DAILY_LIMITS.items() if daily == limit), None)


# --- one reader per field ---------------------------------------------------------------------------


def _quality(value: JsonObject, path: str) -> _Facts:
    """``phone_number_quality_update``: ``FLAGGED`` when the quality rating dropped to low, ``UNFLAGGED`` when it
    is no longer low (Meta does not say which level), ``UPGRADE``/``DOWNGRADE`` with the tier now in force,
    ``THROUGHPUT_UPGRADE`` when the number may send 1,000 messages per second."""
    event = get(value, "event", path, str)
    explicit = get(value, "quality_rating", path, str)
    quality = {"FLAGGED": "RED", "UNFLAGGED": "UNKNOWN"}.get(event or "")
    return {
        "quality_rating": explicit if explicit in QUALITY_RATINGS else quality,
        "messaging_limit_tier": _tier(value, "current_limit", path),
        "throughput_mps": UPGRADED_THROUGHPUT_MPS if event == "THROUGHPUT_UPGRADE" else None,
    }


def _capability(value: JsonObject, path: str) -> _Facts:
    """``business_capability_update``: the daily limit as a number per phone, or (since the portfolio-wide
    limits) as a number or tier per business."""
    tier = _tier(value, "max_daily_conversations_per_business", path)
    return {"messaging_limit_tier": tier or _tier(value, "max_daily_conversation_per_phone", path)}


def _tier(value: JsonObject, key: str, path: str) -> str | None:
    raw = value.get(key)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise PayloadError(join(path, key), "expected a tier or a number")
    if isinstance(raw, int) or raw.isdigit():
        return tier_of(int(raw))
    return raw if raw in TIER_DAILY_LIMITS else None


def _account(value: JsonObject, path: str) -> _Facts:
    """``account_update``: a ban (``DISABLED_UPDATE``), messaging restrictions, or the account leaving the
    app; a reinstatement, restrictions gone or a reconnection lift it. Violations and scheduled bans are only
    recorded: the account still sends."""
    event = get(value, "event", path, str) or ""
    if event == "DISABLED_UPDATE":
        return _ban(value, path)
    if event == "ACCOUNT_RESTRICTION":
        return _restrictions(value, path)
    if event in PAUSING_ACCOUNT_EVENTS:
        return _restricted(True, "connection", event)
    if event in LIFTING_ACCOUNT_EVENTS:
        return _restricted(False, "connection", event)
    return {}


def _ban(value: JsonObject, path: str) -> _Facts:
    """``ban_info.waba_ban_state``: ``DISABLE`` stops the account, ``REINSTATE`` lifts it; a ban only scheduled
    (``SCHEDULE_FOR_DISABLE``) is recorded, the account still sends."""
    ban_path = join(path, "ban_info")
    state = get(as_object(value.get("ban_info") or {}, ban_path), "waba_ban_state", ban_path, str)
    if state == "DISABLE":
        return _restricted(True, "ban", "disabled by Meta")
    if state == "REINSTATE":
        return _restricted(False, "ban", "reinstated by Meta")
    return {}


def _restrictions(value: JsonObject, path: str) -> _Facts:
    """Restrictions on messaging pause the account; one on adding numbers does not; none left lifts them."""
    kinds = _restriction_types(value, path)
    pausing = sorted(kinds & PAUSING_RESTRICTIONS)
    if pausing:
        return _restricted(True, "restriction", ", ".join(pausing))
    return {} if kinds else _restricted(False, "restriction", "restrictions lifted")


def _restriction_types(value: JsonObject, path: str) -> set[str]:
    """``restriction_info`` is a list of ``{restriction_type, expiration}`` (a single object is read too)."""
    raw = value.get("restriction_info")
    entries = raw if isinstance(raw, list) else [raw] if raw is not None else []
    kinds = set()
    for index, entry in enumerate(entries):
        entry_path = join(join(path, "restriction_info"), index)
        kind = get(as_object(entry, entry_path), "restriction_type", entry_path, str)
        if kind:
            kinds.add(kind)
    return kinds


def _review(value: JsonObject, path: str) -> _Facts:
    """``account_review_update``: a rejected account cannot send; an approved one can."""
    decision = get(value, "decision", path, str)
    if decision == "REJECTED":
        return _restricted(True, "review", "rejected")
    if decision == "APPROVED":
        return _restricted(False, "review", "approved")
    return {}


def _name(value: JsonObject, path: str) -> _Facts:
    """``phone_number_name_update``: the display name asked for and Meta's decision on it."""
    return {
        "display_name": get(value, "requested_verified_name", path, str),
        "display_name_status": get(value, "decision", path, str),
    }


def _restricted(is_restricted: bool, kind: str, reason: str) -> _Facts:
    return {"restriction": Restriction(is_restricted=is_restricted, kind=kind, reason=reason)}


_READERS = {
    "phone_number_quality_update": _quality,
    "business_capability_update": _capability,
    "account_update": _account,
    "account_review_update": _review,
    "phone_number_name_update": _name,
}
