"""The webhook edge: signature failures on a known Meta app (forged deliveries, a leaked or rotated secret) and
probing of app keys that name no app. Called on the 401 path only: the success path pays nothing."""

from __future__ import annotations

import math
import uuid

from audit.alerts.counters import distinct_count, window_count
from audit.alerts.detectors.base import crossed, detection_guard, network_of, short_hash
from audit.alerts.history import hourly_baseline, hourly_count_add
from audit.alerts.models import Severity
from audit.alerts.selectors import SIGNATURE_FAILURES_METRIC
from audit.alerts.services import AlertSpec, alert_raise
from audit.alerts.thresholds import threshold_for

SIGNATURE_DETECTOR = "webhook.signature_failures"
PROBING_DETECTOR = "webhook.app_key_probing"

SIGNATURE_ACTION = (
    "Compare the app secret configured for this Meta app in the gateway with the one in Meta's App Dashboard. "
    "If you rotated it, update the gateway (or finish the rotation). If you did not, someone may be forging "
    "webhooks or the secret may have leaked: reset it at Meta and enter the new one. Forged requests were refused."
)
PROBING_ACTION = (
    "Someone is trying webhook addresses that name no Meta app. Nothing was accepted. Block the address at your "
    "proxy or firewall if it continues, and check that app keys are not published anywhere."
)


def webhook_signature_failed(*, meta_app_id: uuid.UUID, tenant_id: uuid.UUID | None) -> None:
    """A delivery for a known, active app whose signature did not match its secrets."""
    hourly_count_add(metric=SIGNATURE_FAILURES_METRIC, subject=str(meta_app_id), tenant_id=tenant_id)
    with detection_guard(SIGNATURE_DETECTOR):
        window = threshold_for("webhook_signature_failures_window_seconds", tenant_id=tenant_id)
        count = window_count(key=f"sig:{meta_app_id}", window_seconds=window)
        minimum = threshold_for("webhook_signature_failures_min", tenant_id=tenant_id)
        if count < minimum or minimum <= 0:
            return
        expected = _expected_failures(meta_app_id, tenant_id, window)
        factor = threshold_for("webhook_signature_failures_factor", tenant_id=tenant_id)
        if crossed(count, max(minimum, factor * expected)):
            _signature_alert(meta_app_id, tenant_id, count=count, window=window, expected=expected)


def webhook_app_key_unknown(*, app_key: str, ip: str) -> None:
    """A delivery to an app key that names no active app (only a hash of the key is kept)."""
    with detection_guard(PROBING_DETECTOR):
        window = threshold_for("unknown_app_key_window_seconds", tenant_id=None)
        distinct = distinct_count(key=f"probe:{ip}", member=short_hash(app_key), window_seconds=window)
        if crossed(distinct, threshold_for("unknown_app_key_distinct", tenant_id=None)):
            alert_raise(
                spec=AlertSpec(
                    detector=PROBING_DETECTOR,
                    dedupe_key=f"address:{ip}",
                    tenant_id=None,
                    severity=Severity.MEDIUM,
                    title="Webhook app keys are being probed from one address",
                    evidence={"address": ip[:64], "network": network_of(ip), "unknown_app_keys": distinct},
                    suggested_action=PROBING_ACTION,
                )
            )


def _expected_failures(meta_app_id: uuid.UUID, tenant_id: uuid.UUID | None, window: int) -> float:
    days = threshold_for("baseline_days", tenant_id=tenant_id)
    baseline = hourly_baseline(metric=SIGNATURE_FAILURES_METRIC, subject=str(meta_app_id), days=days)
    return baseline * window / 3600


def _signature_alert(
    meta_app_id: uuid.UUID, tenant_id: uuid.UUID | None, *, count: int, window: int, expected: float
) -> None:
    alert_raise(
        spec=AlertSpec(
            detector=SIGNATURE_DETECTOR,
            dedupe_key=f"meta_app:{meta_app_id}",
            tenant_id=tenant_id,
            severity=Severity.HIGH,
            title="Webhooks with a bad signature for a Meta app, far above its usual rate",
            evidence={
                "meta_app_id": str(meta_app_id),
                "failures": count,
                "window_seconds": window,
                "expected_failures": math.ceil(expected),
            },
            suggested_action=SIGNATURE_ACTION,
        )
    )
