"""``GET /api/v1/reports/transparency/``: the key's tenant only, the ``reports:read`` scope, problem documents."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from audit.models import AuditAction, AuditEvent
from console.reports.digest import figures_digest
from tests.console.seed import NOVEMBER, Seeded

pytestmark = pytest.mark.django_db(transaction=False)
URL = "/api/v1/reports/transparency/"
Clients = Callable[..., APIClient]


def test_json_report_of_the_key_tenant(seeded_a: Seeded, seeded_b: Seeded, api_client: Clients) -> None:
    response = api_client(seeded_b.tenant, "reports:read").get(URL, {"period": NOVEMBER})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    copy = json.loads(response.content)
    assert copy["figures"]["tenant_id"] == str(seeded_b.tenant.pk)
    assert copy["digest"] == figures_digest(copy["figures"])
    assert sum(row["count"] for row in copy["figures"]["messages"]) == 2  # B's two, none of A's seven
    event = AuditEvent.objects.get(action=AuditAction.REPORT_ISSUED)
    assert event.chain == str(seeded_b.tenant.pk) and event.actor_label.startswith("api_key:")


def test_pdf_report(seeded_a: Seeded, api_client: Clients) -> None:
    response = api_client(seeded_a.tenant, "reports:read").get(URL, {"period": "2026-Q4", "format": "pdf"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    digest = AuditEvent.objects.get(action=AuditAction.REPORT_ISSUED).target_id
    assert digest.encode() in response.content


def test_from_to_dates(seeded_a: Seeded, api_client: Clients) -> None:
    response = api_client(seeded_a.tenant, "reports:read").get(URL, {"start": "2026-11-03", "end": "2026-11-04"})
    assert response.status_code == 200
    assert json.loads(response.content)["figures"]["period"] == "2026-11-03..2026-11-04"


def test_the_scope_is_required(tenant_a: object, api_client: Clients) -> None:
    response = api_client(tenant_a, "messages:read").get(URL, {"period": NOVEMBER})
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    assert not AuditEvent.objects.filter(action=AuditAction.REPORT_ISSUED).exists()


def test_no_key_is_refused(db: None) -> None:
    assert APIClient().get(URL, {"period": NOVEMBER}).status_code == 401


@pytest.mark.parametrize(
    ("query", "field"),
    [({}, "period"), ({"period": "2026-13"}, "period"), ({"period": NOVEMBER, "format": "xml"}, "format")],
)
def test_bad_period_or_format_is_a_problem(
    tenant_a: object, api_client: Clients, query: dict[str, str], field: str
) -> None:
    response = api_client(tenant_a, "reports:read").get(URL, query)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert not AuditEvent.objects.filter(action=AuditAction.REPORT_ISSUED).exists()


def test_issued_report_found_by_digest_in_its_tenant_only(
    seeded_a: Seeded, seeded_b: Seeded, api_client: Clients
) -> None:
    client_a = api_client(seeded_a.tenant, "reports:read")
    digest = json.loads(client_a.get(URL, {"period": NOVEMBER}).content)["digest"]
    found = client_a.get(f"{URL}issued/{digest}/")
    assert found.status_code == 200
    assert found.json()["period"] == NOVEMBER and found.json()["chain_intact"] is True
    assert found.json()["audit"]["chain"] == str(seeded_a.tenant.pk)
    other = api_client(seeded_b.tenant, "reports:read").get(f"{URL}issued/{digest}/")
    assert other.status_code == 404
    assert other.json()["code"] == "not_found"
    assert client_a.get(f"{URL}issued/{'0' * 64}/").status_code == 404
