"""Issuing a transparency report: compute the figures, record their digest on the tenant's audit chain, render."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from django.db import transaction
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Tenant
from audit.models import AuditAction
from audit.services import audit_record
from console.reports.digest import ISSUED_TARGET, figures_digest, figures_document
from console.reports.figures import TransparencyFigures, transparency_figures
from console.reports.periods import Period
from console.reports.render import report_html, report_pdf


class ReportFormat(StrEnum):
    HTML = "html"
    PDF = "pdf"
    JSON = "json"


CONTENT_TYPES = {
    ReportFormat.HTML: "text/html; charset=utf-8",
    ReportFormat.PDF: "application/pdf",
    ReportFormat.JSON: "application/json",
}


@dataclass(frozen=True, slots=True)
class IssuedReport:
    figures: TransparencyFigures
    digest: str
    audit_seq: int
    body: bytes
    content_type: str
    filename: str


def transparency_report_issue(
    *, tenant: Tenant, period: Period, output_format: ReportFormat, actor: Actor
) -> IssuedReport:
    """The report of ``tenant`` for ``period`` in ``output_format``. Its digest is recorded on the tenant's chain in
    the same transaction as the rendering: a copy that failed to render leaves no issuance behind."""
    figures = transparency_figures(tenant=tenant, period=period, now=timezone.now())
    document = figures_document(figures)
    digest = figures_digest(document)
    with transaction.atomic():
        event = audit_record(
            action=AuditAction.REPORT_ISSUED,
            tenant_id=tenant.pk,
            actor_id=actor.user_id,
            actor_label=actor.label,
            ip=actor.ip,
            target_type=ISSUED_TARGET,
            target_id=digest,
            details={"period": period.label, "digest": digest, "format": str(output_format)},
        )
        body = _body(output_format, figures=figures, document=document, digest=digest, audit_seq=event.seq)
    filename = f"transparency-{tenant.slug}-{period.label.replace('..', '_')}.{output_format}"
    return IssuedReport(figures, digest, event.seq, body, CONTENT_TYPES[output_format], filename)


def _body(
    output_format: ReportFormat,
    *,
    figures: TransparencyFigures,
    document: dict[str, object],
    digest: str,
    audit_seq: int,
) -> bytes:
    if output_format == ReportFormat.JSON:
        copy = {"digest": digest, "audit": {"chain": figures.tenant_id, "seq": audit_seq}, "figures": document}
        return json.dumps(copy, indent=2, ensure_ascii=False).encode()
    html = report_html(figures=figures, digest=digest, audit_seq=audit_seq)
    return html.encode() if output_format == ReportFormat.HTML else report_pdf(html=html, digest=digest)
