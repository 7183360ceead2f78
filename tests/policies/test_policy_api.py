"""``GET /api/v1/policies/``: the policy in force for the key's tenant only, behind ``policies:read``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR
from accounts.models import ApiScope, Tenant
from messaging.models import Channel
from policies.retention.services import retention_policy_update

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("installation_limits")]
URL = "/api/v1/policies/"
DEFAULTS = {
    "content_max_days": 365,
    "content_days_after_delivery": None,
    "purge_content_on_delivery": False,
    "disappearing_seconds_after_read": None,
    "metadata_days": 730,
    "raw_delivery_days": 7,
    "media_days": 90,
    "audit_days": 2555,
}


def test_a_tenant_without_a_policy_reads_the_defaults(
    api_client: Callable[..., APIClient], tenant_a: Tenant, channel_a: Channel
) -> None:
    response = api_client(tenant_a, ApiScope.POLICIES_READ).get(URL)

    assert response.status_code == 200
    assert response.json() == {"policy": {**DEFAULTS, "source": "default"}, "channel_overrides": []}


def test_each_tenant_reads_its_own_policy_and_overrides_only(
    api_client: Callable[..., APIClient], tenant_a: Tenant, tenant_b: Tenant, channel_a: Channel, channel_b: Channel
) -> None:
    retention_policy_update(tenant=tenant_a, actor=CLI_ACTOR, values={"content_max_days": 30, "media_days": 30})
    retention_policy_update(
        tenant=tenant_a, channel=channel_a, actor=CLI_ACTOR, values={"purge_content_on_delivery": True}
    )
    retention_policy_update(tenant=tenant_b, actor=CLI_ACTOR, values={"disappearing_seconds_after_read": 60})

    body_a = api_client(tenant_a, ApiScope.POLICIES_READ).get(URL).json()
    body_b = api_client(tenant_b, ApiScope.POLICIES_READ).get(URL).json()

    tenant_values = {**DEFAULTS, "content_max_days": 30, "media_days": 30}
    assert body_a == {
        "policy": {**tenant_values, "source": "tenant"},
        "channel_overrides": [{**tenant_values, "purge_content_on_delivery": True, "channel": str(channel_a.pk)}],
    }
    assert body_b == {
        "policy": {**DEFAULTS, "disappearing_seconds_after_read": 60, "source": "tenant"},
        "channel_overrides": [],
    }


def test_the_policy_needs_the_policies_read_scope_and_a_key(
    api_client: Callable[..., APIClient], tenant_a: Tenant
) -> None:
    other_scopes = api_client(tenant_a, ApiScope.MESSAGES_READ, ApiScope.CONTACTS_READ).get(URL)
    no_key = APIClient().get(URL)

    assert (other_scopes.status_code, other_scopes.json()["detail"]) == (
        403,
        "This API key does not have the policies:read scope.",
    )
    assert no_key.status_code == 401


def test_the_schema_documents_the_policy_operation(db: None) -> None:
    schema = APIClient().get("/api/v1/schema/").json()

    operation = schema["paths"][URL]["get"]
    assert operation["operationId"] == "policies_retrieve"
    assert sorted(operation["responses"]) == ["200", "401", "403", "414", "429", "503"]
    properties = schema["components"]["schemas"]["TenantPolicyOutput"]["properties"]
    assert sorted(properties) == sorted([*DEFAULTS, "source"])
    assert schema["components"]["schemas"]["ChannelPolicyOutput"]["properties"]["channel"]["format"] == "uuid"
