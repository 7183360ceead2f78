"""The retention purge: expired content, media, raw deliveries, quarantined items and message rows go in short
batches; then past content and raw day keys are scheduled for destruction (docs/retention.md)."""

from policies.retention.purge.kinds import BATCH_SIZE, PurgeKind
from policies.retention.purge.passes import (
    DEFAULT_DUTY,
    DEFAULT_WAL_MB_PER_SECOND,
    PurgeOutcome,
    retention_purge,
    retention_purge_preview,
)

__all__ = [
    "BATCH_SIZE",
    "DEFAULT_DUTY",
    "DEFAULT_WAL_MB_PER_SECOND",
    "PurgeKind",
    "PurgeOutcome",
    "retention_purge",
    "retention_purge_preview",
]
