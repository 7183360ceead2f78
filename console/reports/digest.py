"""The canonical JSON of a report's figures, its SHA-256 digest, and the check a regulator runs on a copy.

Canonical: keys sorted, no spaces, UTF-8, whole numbers and strings only (no floats), so the same figures always
give the same bytes. The digest is printed in every copy and recorded on the tenant's audit chain when the report
is issued (``report.transparency_issued``, the digest as the event's target id).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from audit.models import AuditAction, AuditEvent
from audit.selectors import audit_chain_verify
from console.reports.figures import TransparencyFigures

ISSUED_TARGET = "transparency_report"


class ReportCopyError(ValueError):
    """A file that is not a report's JSON copy (unreadable, or without figures and a digest)."""


def figures_document(figures: TransparencyFigures) -> dict[str, Any]:
    return dataclasses.asdict(figures)


def canonical_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def figures_digest(document: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(document)).hexdigest()


@dataclass(frozen=True, slots=True)
class CopyCheck:
    """What a check of a copy found: the digest it carries, whether its figures give that digest, the issuing
    event on the tenant's chain (if any), and whether that chain verifies."""

    digest: str
    figures_match: bool | None  # None: a copy without figures (a digest given alone)
    issued: AuditEvent | None
    chain_intact: bool | None


def copy_check(*, digest: str, document: dict[str, Any] | None = None) -> CopyCheck:
    """Check a copy: recompute the digest of its figures (a JSON copy), find the issuing event, verify its chain."""
    figures_match = None if document is None else figures_digest(document) == digest
    # A JSON copy names its tenant: the issuance must be on that tenant's chain, not merely somewhere.
    issued = report_issuance_find(digest=digest, chain=None if document is None else str(document.get("tenant_id")))
    chain_intact = None if issued is None else audit_chain_verify(chain=issued.chain).broken_at is None
    return CopyCheck(digest=digest, figures_match=figures_match, issued=issued, chain_intact=chain_intact)


def report_issuance_find(*, digest: str, chain: str | None = None) -> AuditEvent | None:
    """The first issuance of a report with this digest (on ``chain`` only, when given)."""
    events = AuditEvent.objects.filter(action=AuditAction.REPORT_ISSUED, target_type=ISSUED_TARGET, target_id=digest)
    if chain is not None:
        events = events.filter(chain=chain)
    return events.order_by("occurred_at", "seq").first()


def json_copy_read(raw: bytes) -> tuple[str, dict[str, Any]]:
    """The digest and the figures of a report's JSON copy."""
    try:
        copy = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ReportCopyError("not a JSON copy of a transparency report") from None
    if (
        not isinstance(copy, dict)
        or not isinstance(copy.get("digest"), str)
        or not isinstance(copy.get("figures"), dict)
    ):
        raise ReportCopyError("a JSON copy holds a digest and the figures; this file does not")
    return copy["digest"], copy["figures"]
