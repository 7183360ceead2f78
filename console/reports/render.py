"""A report as HTML (a Django template) and as PDF (WeasyPrint, from the same HTML, charts inline as SVG)."""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from weasyprint import HTML  # type: ignore[import-untyped]

from console.reports.charts import bar_chart
from console.reports.figures import TransparencyFigures
from console.reports.types import AGE_LABELS, LabelCount
from policies.retention.validation import BOOLEAN_FIELDS, POLICY_LABELS

TEMPLATE = "console/transparency_report.html"
NO_LIMIT = "no limit"
NOTHING_TO_MEASURE = "none in the period"


class ReportFetchRefusedError(RuntimeError):
    """The PDF renderer asked for an outside resource: a report embeds everything it shows."""


def report_html(*, figures: TransparencyFigures, digest: str, audit_seq: int) -> str:
    return render_to_string(TEMPLATE, report_context(figures=figures, digest=digest, audit_seq=audit_seq))


def report_pdf(*, html: str, digest: str) -> bytes:
    """The PDF of ``html``; its file identifier (the trailer's ``/ID``, never compressed) is the digest, so a tool
    reading the file finds it as well as a person reading the page."""
    pdf = HTML(string=html, url_fetcher=_refuse_fetch).write_pdf(pdf_identifier=digest.encode())
    if pdf is None:  # write_pdf returns the bytes when given no target: never here
        raise RuntimeError("the PDF renderer returned nothing")
    return bytes(pdf)


def _refuse_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    raise ReportFetchRefusedError("a transparency report fetches nothing")


def shown(value: int | str | None, *, empty: str = NOTHING_TO_MEASURE) -> str:
    """A figure as printed: thousands separated; ``None`` as ``empty`` (nothing measured in the period)."""
    if value is None:
        return empty
    return f"{value:,}" if isinstance(value, int) else value


def report_context(*, figures: TransparencyFigures, digest: str, audit_seq: int) -> dict[str, Any]:
    messages = [(f"{row.platform} {row.direction}", row.count) for row in figures.messages]
    held = [(row.kind, row.total) for row in figures.data_held]
    return {
        "figures": figures,
        "digest": digest,
        "audit_seq": audit_seq,
        "age_labels": AGE_LABELS,
        "messages_chart": mark_safe(bar_chart(title="Messages in the period", rows=messages)),  # noqa: S308 -- escaped SVG
        "held_chart": mark_safe(bar_chart(title="Data held now", rows=held)),  # noqa: S308 -- escaped SVG
        "policy_values": [
            (POLICY_LABELS.get(row.label, row.label), _setting_shown(row)) for row in figures.retention.values
        ],
        "reveals_total": sum(row.count for row in figures.reveals),
        "security_alerts": shown(figures.security_alerts),
        "signature_failures": shown(figures.signature_failures),
        "subjects": {name: shown(value) for name, value in _fields(figures.subjects).items()},
        "webhooks": {name: shown(value) for name, value in _fields(figures.webhooks).items()},
    }


def _setting_shown(setting: LabelCount) -> str:
    if setting.label in BOOLEAN_FIELDS:
        return "yes" if setting.count else "no"
    return NO_LIMIT if setting.count < 0 else f"{setting.count:,}"


def _fields(part: Any) -> dict[str, Any]:
    return {name: getattr(part, name) for name in part.__slots__}
