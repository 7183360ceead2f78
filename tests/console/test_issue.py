"""Issuing a report records its digest on the tenant's chain; the digest is recomputable from the JSON copy and is
printed in the HTML and the PDF; a copy whose figures were changed does not verify."""

from __future__ import annotations

import json

import pytest

from accounts.actors import Actor
from audit.models import AuditAction, AuditEvent
from audit.selectors import audit_chain_verify
from console.reports.charts import bar_chart
from console.reports.digest import canonical_json, copy_check, figures_digest
from console.reports.periods import period_parse
from console.reports.services import ReportFormat, transparency_report_issue
from tests.console.seed import NOVEMBER, Seeded

pytestmark = pytest.mark.django_db(transaction=False)
OWNER = Actor(label="owner@a.example", ip="203.0.113.7")


def _issue(seeded: Seeded, output_format: ReportFormat) -> tuple[str, bytes]:
    issued = transparency_report_issue(
        tenant=seeded.tenant, period=period_parse(NOVEMBER), output_format=output_format, actor=OWNER
    )
    return issued.digest, issued.body


def test_json_copy_digest_is_recorded_on_the_tenant_chain_and_recomputable(seeded_a: Seeded, seeded_b: Seeded) -> None:
    digest, body = _issue(seeded_a, ReportFormat.JSON)
    copy = json.loads(body)
    assert copy["digest"] == digest == figures_digest(copy["figures"])
    assert (
        canonical_json(copy["figures"]) == json.dumps(copy["figures"], sort_keys=True, separators=(",", ":")).encode()
    )
    event = AuditEvent.objects.get(action=AuditAction.REPORT_ISSUED)
    assert event.chain == str(seeded_a.tenant.pk) == copy["figures"]["tenant_id"]
    assert (event.target_id, event.seq, event.actor_label) == (digest, copy["audit"]["seq"], OWNER.label)
    assert event.details == {"period": NOVEMBER, "digest": digest, "format": "json"}
    assert audit_chain_verify(chain=event.chain).is_intact
    check = copy_check(digest=digest, document=copy["figures"])
    assert (check.figures_match, check.issued, check.chain_intact) == (True, event, True)


def test_a_changed_figure_no_longer_matches(seeded_a: Seeded) -> None:
    digest, body = _issue(seeded_a, ReportFormat.JSON)
    figures = json.loads(body)["figures"]
    figures["subjects"]["erasures"] += 1
    assert copy_check(digest=digest, document=figures).figures_match is False


def test_a_copy_naming_another_tenant_is_not_found_issued(seeded_a: Seeded, seeded_b: Seeded) -> None:
    digest, body = _issue(seeded_a, ReportFormat.JSON)
    figures = json.loads(body)["figures"]
    figures["tenant_id"] = str(seeded_b.tenant.pk)
    assert copy_check(digest=digest, document=figures).issued is None


def test_pdf_starts_with_the_marker_and_carries_the_digest(seeded_a: Seeded) -> None:
    digest, body = _issue(seeded_a, ReportFormat.PDF)
    assert body.startswith(b"%PDF")
    assert digest.encode() in body
    event = AuditEvent.objects.get(action=AuditAction.REPORT_ISSUED)
    assert (event.target_id, event.details["format"]) == (digest, "pdf")


def test_html_shows_the_digest_charts_and_the_security_figures(seeded_a: Seeded) -> None:
    digest, body = _issue(seeded_a, ReportFormat.HTML)
    html = body.decode()
    assert f'<span class="digest" id="digest">{digest}</span>' in html
    assert html.count("<svg") == 2
    assert "<script" not in html
    assert '<td>Security alerts</td><td class="number">0</td>' in html
    assert "customer complaint" in html


def test_every_issue_records_one_event_and_the_same_figures_give_the_same_digest(seeded_a: Seeded) -> None:
    _issue(seeded_a, ReportFormat.HTML)
    _issue(seeded_a, ReportFormat.PDF)
    assert AuditEvent.objects.filter(action=AuditAction.REPORT_ISSUED, chain=str(seeded_a.tenant.pk)).count() == 2
    issued = AuditEvent.objects.filter(action=AuditAction.REPORT_ISSUED).values_list("target_id", flat=True)
    assert all(len(digest) == 64 for digest in issued)


def test_canonical_json_is_independent_of_key_order() -> None:
    assert figures_digest({"b": 1, "a": [1, "é"]}) == figures_digest({"a": [1, "é"], "b": 1})
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


def test_document_is_the_dataclass_as_a_dict(seeded_a: Seeded) -> None:
    _, body = _issue(seeded_a, ReportFormat.JSON)
    figures = json.loads(body)["figures"]
    assert set(figures) == {
        "tenant_id", "tenant_slug", "tenant_name", "period", "period_start", "period_end", "generated_at",
        "messages", "data_held", "retention", "purges", "subjects", "holds", "reveals", "staff_access",
        "security_alerts", "signature_failures", "webhooks",
    }  # fmt: skip
    assert (figures["security_alerts"], figures["signature_failures"]) == (0, 0)


def test_chart_labels_are_escaped() -> None:
    svg = bar_chart(title="<b>", rows=[("a<script>", 3), ("b", 0)])
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert svg.count("<rect") == 2
