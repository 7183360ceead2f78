"""Meta turning against a sender: bursts of template rejections, bursts of Meta's spam and quality errors on
sends, and a phone number's quality rating falling to red or flagged.

Fed by messaging: template status webhooks (``messaging.inbound.accounts``), send outcomes and failed statuses
with an error code (``messaging.outbound.dispatch.outcomes``, ``messaging.statuses``) and phone number quality
updates. Each burst counts per channel in a sliding window and raises when it reaches its threshold.
"""

from __future__ import annotations

import uuid

from audit.alerts.detectors.base import window_count_guarded
from audit.alerts.listeners import AlertRaised
from audit.alerts.models import Severity
from audit.alerts.services import AlertSpec, alert_raise
from audit.alerts.thresholds import threshold_for

TEMPLATE_DETECTOR = "template_rejections"
QUALITY_ERRORS_DETECTOR = "meta_quality_errors"
QUALITY_RATING_DETECTOR = "meta_quality_rating"

# Meta's error codes that say recipients or Meta judge the sending as spam or low quality (META-SPEC §8):
# 131048 spam rate limit, 131049 held back for ecosystem engagement, 131050 recipient stopped marketing messages,
# 131064 limited for template-classification violations, 132015 template paused for low quality, 132016 template
# disabled, 368 temporarily blocked for policy violations.
QUALITY_ERROR_CODES = frozenset({131048, 131049, 131050, 131064, 132015, 132016, 368})
Burst = tuple[int, int]  # the count that reached the threshold, and the window it was counted in (seconds)

# Ratings and events of ``phone_number_quality_update`` that mean the number's standing fell.
LOW_QUALITY = frozenset({"RED", "FLAGGED", "DOWNGRADE"})


def template_rejection_observe(
    *, tenant_id: uuid.UUID, channel_id: uuid.UUID, template_id: str | None
) -> AlertRaised | None:
    """Count one template rejected by Meta on the channel's account; raise at ``template_rejections`` in the window."""
    burst = _channel_burst(TEMPLATE_DETECTOR, "template_rejections", tenant_id=tenant_id, channel_id=channel_id)
    if burst is None:
        return None
    count, window = burst
    spec = AlertSpec(
        detector=TEMPLATE_DETECTOR,
        dedupe_key=str(channel_id),
        tenant_id=tenant_id,
        severity=Severity.MEDIUM,
        title="A burst of message templates rejected by Meta",
        evidence={
            "channel_id": str(channel_id),
            "rejections": count,
            "window_seconds": window,
            "last_template_id": (template_id or "")[:64] or None,
        },
        suggested_action="Check who is submitting templates and what they say: a stream of rejected templates "
        "is how a taken-over account probes Meta's review. Revoke the keys or users that submitted them if "
        "unknown.",
    )
    return alert_raise(spec=spec)


def meta_quality_error_observe(
    *, tenant_id: uuid.UUID, channel_id: uuid.UUID, code: int, message_id: uuid.UUID
) -> AlertRaised | None:
    """Count one send Meta refused or failed with a spam or quality code; raise at ``meta_quality_errors``."""
    if code not in QUALITY_ERROR_CODES:
        return None
    burst = _channel_burst(QUALITY_ERRORS_DETECTOR, "meta_quality_errors", tenant_id=tenant_id, channel_id=channel_id)
    if burst is None:
        return None
    count, window = burst
    spec = AlertSpec(
        detector=QUALITY_ERRORS_DETECTOR,
        dedupe_key=str(channel_id),
        tenant_id=tenant_id,
        severity=Severity.HIGH,
        title="A burst of Meta spam and quality errors on sends",
        evidence={
            "channel_id": str(channel_id),
            "errors": count,
            "window_seconds": window,
            "last_error_code": code,
            "last_message_id": str(message_id),
        },
        suggested_action="Stop marketing sends on the channel and check who is sending to whom: recipients are "
        "blocking or reporting the messages, and Meta will lower the number's quality and limits next.",
    )
    return alert_raise(spec=spec)


def meta_quality_rating_observe(*, tenant_id: uuid.UUID, channel_id: uuid.UUID, rating: str) -> AlertRaised | None:
    """A phone number's quality update: raise when its rating or event says it fell (red, flagged, downgraded)."""
    rating = rating.upper()
    if rating not in LOW_QUALITY:
        return None
    spec = AlertSpec(
        detector=QUALITY_RATING_DETECTOR,
        dedupe_key=str(channel_id),
        tenant_id=tenant_id,
        severity=Severity.HIGH,
        title="Meta lowered a phone number's quality",
        evidence={"channel_id": str(channel_id), "rating": rating[:16]},
        suggested_action="Check the channel's recent sends for unsolicited or repeated messages and slow them "
        "down: a flagged number that keeps its quality low loses its messaging limit tier.",
    )
    return alert_raise(spec=spec)


def _channel_burst(detector: str, threshold_name: str, *, tenant_id: uuid.UUID, channel_id: uuid.UUID) -> Burst | None:
    """Count one event of ``threshold_name``'s kind on the channel in the window ``<threshold_name>_window_seconds``;
    (count, window) when this event brings the count to the threshold (once per burst), else None (also when the
    detector is off or Redis is out of reach)."""
    window = threshold_for(f"{threshold_name}_window_seconds", tenant_id=tenant_id)
    threshold = threshold_for(threshold_name, tenant_id=tenant_id)
    if window <= 0 or threshold <= 0:
        return None
    count = window_count_guarded(detector=detector, key=f"{threshold_name}:{channel_id}", window_seconds=window)
    return None if count is None or count != threshold else (count, window)
