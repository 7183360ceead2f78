from __future__ import annotations

import pytest

from accounts.models import Membership, Role, Tenant, User


@pytest.fixture
def tenant_a(db: None) -> Tenant:
    return Tenant.objects.create(name="Tenant A", slug="tenant-a")


@pytest.fixture
def tenant_b(db: None) -> Tenant:
    return Tenant.objects.create(name="Tenant B", slug="tenant-b")


@pytest.fixture
def owner_a(tenant_a: Tenant) -> User:
    user = User.objects.create_user("owner@a.example", "correct horse battery staple", is_staff=True)
    Membership.objects.create(tenant=tenant_a, user=user, role=Role.OWNER)
    return user
