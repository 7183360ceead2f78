"""THE error policy of sends: what the dispatcher does with each Graph error code (META-SPEC §8).

Built on the ``code`` (and, for Messenger's code 10, the subcode), never on the message text. Four kinds:

* throttled: Meta is pacing us; the message waits ``delay_seconds`` (the channel's, or only the recipient's,
  budget is held that long) and goes again without using its retry budget;
* transient: a failure that may pass; exponential backoff with full jitter, counted against the budget
  (``max_attempts`` caps codes Meta says to retry only "a few times");
* permanent: retrying cannot help; the message fails with the code and title;
* channel: the channel itself is broken (token, block, lock, permissions, billing): it is paused, an alert
  raised, and its messages held until an operator resumes it.

An answer without a known code: HTTP 5xx and 429 are transient, anything else permanent. Transport errors:
a request that never left (connection refused, connect timeout) is transient; one that may have reached
Meta (read timeout, reset after sending) has an unknown outcome.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

HTTP_TOO_MANY_REQUESTS = 429
HTTP_SERVER_ERROR = 500
HOUR = 3600.0


class OutcomeKind(enum.StrEnum):
    THROTTLED = "throttled"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    CHANNEL = "channel"
    UNKNOWN = "unknown"


class Scope(enum.StrEnum):
    """Whose budget a throttle holds: every send of the channel, or only those to this recipient."""

    MESSAGE = "message"
    CHANNEL = "channel"
    RECIPIENT = "recipient"


@dataclass(frozen=True, slots=True)
class ErrorPolicy:
    kind: OutcomeKind
    title: str
    delay_seconds: float = 0.0
    scope: Scope = Scope.MESSAGE
    max_attempts: int | None = None  # transient codes Meta says to retry only a few times


def _throttled(title: str, delay: float, scope: Scope = Scope.CHANNEL) -> ErrorPolicy:
    return ErrorPolicy(OutcomeKind.THROTTLED, title, delay_seconds=delay, scope=scope)


def _transient(title: str, max_attempts: int | None = None) -> ErrorPolicy:
    return ErrorPolicy(OutcomeKind.TRANSIENT, title, max_attempts=max_attempts)


def _permanent(title: str) -> ErrorPolicy:
    return ErrorPolicy(OutcomeKind.PERMANENT, title)


def _channel(title: str) -> ErrorPolicy:
    return ErrorPolicy(OutcomeKind.CHANNEL, title)


PERMISSION = _channel("Permission not granted or removed: re-grant it")

ERROR_POLICIES: dict[int, ErrorPolicy] = {
    0: _channel("Unable to authenticate the app user: the token expired or was invalidated"),
    1: _transient("Invalid request or possible server error", max_attempts=3),
    2: _transient("Temporary downtime or overload"),
    3: PERMISSION,
    4: _throttled("The app reached its API call rate limit", 60.0),
    10: PERMISSION,
    17: _throttled("User request limit reached", 60.0),
    32: _throttled("Page request limit reached", 60.0),
    33: _channel("The business phone number has been deleted"),
    100: _permanent("Invalid or unsupported parameter"),
    190: _channel("The access token has expired or is invalid"),
    368: _channel("Temporarily blocked for policy violations"),
    551: _permanent("This person isn't available right now"),
    613: _throttled("Calls to this API have exceeded the rate limit", 10.0),
    1200: _transient("Temporary send message failure"),
    80007: _throttled("The WhatsApp Business Account reached its rate limit", 60.0),
    130403: _permanent("The business has blocked this user"),
    130429: _throttled("Cloud API message throughput reached", 1.0),
    130472: _permanent("The user is part of an experiment"),
    130497: _permanent("The account may not message users in this country"),
    131000: _transient("Something went wrong", max_attempts=3),
    131005: _permanent("Access denied"),
    131008: _permanent("Required parameter is missing"),
    131009: _permanent("Parameter value is not valid"),
    131016: _transient("Service temporarily unavailable"),
    131021: _permanent("Sender and recipient are the same"),
    131026: _permanent("Message undeliverable"),
    131031: _channel("The business account is locked"),
    131037: _permanent("The number needs an approved display name"),
    131042: _channel("Business payment method problem"),
    131044: _channel("Business payment method problem"),
    131045: _channel("Phone number registration error"),
    131047: _permanent("More than 24 hours since the customer last replied: only a template can be sent"),
    131048: _throttled("Spam rate limit hit", 4 * HOUR),
    131049: _throttled("Not delivered to maintain healthy ecosystem engagement", 24 * HOUR, Scope.RECIPIENT),
    131050: _permanent("The user stopped marketing messages"),
    131051: _permanent("Unsupported message type"),
    131052: _permanent("Media download error"),
    131053: _transient("Media upload error", max_attempts=3),
    131056: _throttled("Pair rate limit hit: too many messages to this recipient", 6.0, Scope.RECIPIENT),
    131057: _throttled("The account is in maintenance mode", 60.0),
    131063: _permanent("Marketing templates are disabled for this account"),
    131064: _permanent("Messaging limit hit after template-classification violations"),
    132000: _permanent("Template parameter count mismatch"),
    132001: _permanent("Template does not exist in this language or is not approved"),
    132005: _permanent("Translated text too long"),
    132007: _permanent("Template content policy violation"),
    132012: _permanent("Template parameter format mismatch"),
    132015: _permanent("Template paused for low quality"),
    132016: _permanent("Template permanently disabled"),
    132068: _permanent("Flow blocked"),
    132069: _throttled("Flow throttled", 60.0),
    133016: _throttled("Too many registration attempts", HOUR),
    137000: _permanent("Recipient identity key hash mismatch"),
}
PERMISSION_CODES = range(200, 300)
# Messenger/Instagram code 10 with this subcode: sent outside the allowed window (needs a tag), not permissions.
SUBCODE_POLICIES: dict[tuple[int, int], ErrorPolicy] = {
    (10, 2018278): _permanent("Sent outside of the allowed window"),
}

SERVER_ERROR = _transient("Server error")
TOO_MANY_REQUESTS = _transient("Too many requests")
NOT_SENT = _transient("The request could not be sent")
UNKNOWN_OUTCOME = ErrorPolicy(OutcomeKind.UNKNOWN, "No answer: the send may or may not have been accepted")
UNREADABLE = _permanent("Unexpected answer")


def error_policy(*, code: int | None, subcode: int | None = None, http_status: int) -> ErrorPolicy:
    """The policy for a Graph error answer."""
    if code is not None:
        if subcode is not None and (code, subcode) in SUBCODE_POLICIES:
            return SUBCODE_POLICIES[(code, subcode)]
        if code in ERROR_POLICIES:
            return ERROR_POLICIES[code]
        if code in PERMISSION_CODES:
            return PERMISSION
    if http_status >= HTTP_SERVER_ERROR:
        return SERVER_ERROR
    if http_status == HTTP_TOO_MANY_REQUESTS:
        return TOO_MANY_REQUESTS
    return UNREADABLE if code is None else _permanent(f"Graph error {code}")


def transport_error_policy(*, was_sent: bool) -> ErrorPolicy:
    """No answer at all: retry when the request never left, otherwise the outcome is unknown."""
    return UNKNOWN_OUTCOME if was_sent else NOT_SENT
