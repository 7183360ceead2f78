"""``GET /api/v1/policies/``: the retention policy in force for the API key's tenant, and its channel overrides."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_auth import api_client, scope_required
from accounts.models import ApiScope
from core.api_schema import problem_responses
from policies.retention.selectors import PolicySource, retention_policy_in_force, retention_policy_overrides
from policies.retention.validation import PolicyValues


class PolicyValuesOutputSerializer(serializers.Serializer[Any]):
    """Serializes ``PolicyValues`` (in force: within the installation's limits)."""

    content_max_days = serializers.IntegerField(help_text="Content goes this many days after it was written.")
    content_days_after_delivery = serializers.IntegerField(
        allow_null=True, help_text="Content goes this many days after the recipient has it; null: no such limit."
    )
    purge_content_on_delivery = serializers.BooleanField(
        help_text="Content goes as soon as the recipient has the message; only metadata is kept."
    )
    disappearing_seconds_after_read = serializers.IntegerField(
        allow_null=True, help_text="Disappearing messages: content goes this long after it was read; null: off."
    )
    metadata_days = serializers.IntegerField(help_text="Message rows (ids, times, statuses) go after this.")
    raw_delivery_days = serializers.IntegerField(help_text="Raw webhook bodies go after this.")
    media_days = serializers.IntegerField(help_text="Media files go after this (or with their message's content).")
    audit_days = serializers.IntegerField(help_text="Audit events go after this.")


class TenantPolicyOutputSerializer(PolicyValuesOutputSerializer):
    # The metaclass takes declared fields off the class, so this does not shadow Field.source at runtime.
    source = serializers.CharField(  # type: ignore[assignment]  # a string, not a generic "SourceEnum" schema
        help_text=f"`{PolicySource.TENANT}`: set for this tenant; `{PolicySource.DEFAULT}`: none set, defaults apply.",
    )


class ChannelPolicyOutputSerializer(PolicyValuesOutputSerializer):
    channel = serializers.UUIDField(help_text="The channel whose messages this override governs.")


class PoliciesOutputSerializer(serializers.Serializer[Any]):
    policy = TenantPolicyOutputSerializer(help_text="The tenant's policy: every channel without an override.")
    channel_overrides = ChannelPolicyOutputSerializer(many=True)


class PolicyDetailApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.POLICIES_READ)]

    @extend_schema(
        operation_id="policies_retrieve",
        description="The retention policy in force for the tenant and its per-channel overrides (requires "
        "`policies:read`). Expiry is stamped on each message, file and raw delivery when it is written, from "
        "the policy in force then. Changes are made by an operator in the admin.",
        responses={200: PoliciesOutputSerializer, **problem_responses()},
    )
    def get(self, request: Request) -> Response:
        client = api_client(request)
        tenant = client.tenant
        in_force = retention_policy_in_force(tenant_id=tenant.pk)
        overrides = [
            {**PolicyValues.of(row).in_force().as_dict(), "channel": row.channel_id}
            for row in retention_policy_overrides(tenant=tenant)
        ]
        body = {
            "policy": {**in_force.values.as_dict(), "source": in_force.source.value},
            "channel_overrides": overrides,
        }
        return Response(PoliciesOutputSerializer(body).data)
