"""Two tenants seeded with known data in and around November 2026 (tests.console.seed)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from accounts.apikeys import api_key_issue
from accounts.models import Tenant, User
from tests.console.seed import AuditClock, Seeded, seed_tenant_a, seed_tenant_b


@pytest.fixture
def audit_clock(monkeypatch: pytest.MonkeyPatch) -> AuditClock:
    return AuditClock(monkeypatch)


@pytest.fixture
def seeded_a(tenant_a: Tenant, owner_a: User, operator: User, audit_clock: AuditClock) -> Seeded:
    return seed_tenant_a(tenant_a, audit_clock, member=owner_a, operator=operator)


@pytest.fixture
def seeded_b(tenant_b: Tenant, owner_b: User, audit_clock: AuditClock) -> Seeded:
    return seed_tenant_b(tenant_b, audit_clock, member=owner_b)


@pytest.fixture
def api_client() -> Callable[..., APIClient]:
    """``api_client(tenant, *scopes)``: a client holding a fresh API key of that tenant with those scopes."""

    def make(tenant: Tenant, *scopes: str) -> APIClient:
        issued = api_key_issue(tenant=tenant, name="reports test", scopes=scopes)
        client = APIClient(REMOTE_ADDR="203.0.113.9")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
        return client

    return make
