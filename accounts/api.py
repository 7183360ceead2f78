"""The tenant-facing REST API (``/api/v1/``), authenticated by API key. One view per operation."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.renderers import OpenApiJsonRenderer
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_auth import ApiKeyAuthentication, api_client, scope_required
from accounts.apikeys import api_key_get_for_tenant, api_key_list
from accounts.models import ApiKey, ApiScope
from core import api_schema
from core.api_schema import ProblemSerializer, problem, problem_responses


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "gw_<live|test>_<key id>_<secret><checksum>",
            "description": "An API key issued for one tenant, sent as `Authorization: Bearer <key>`. "
            "Each operation lists the scope it requires.",
        }


# The one error shape under the names the views used before core.api_schema.problem_responses.
ErrorSerializer = ProblemSerializer
UNAUTHORIZED = problem(api_schema.UNAUTHORIZED)
FORBIDDEN = problem(api_schema.FORBIDDEN)
NO_SUCH_KEY = "No such key in this tenant (`not_found`)."


class TenantOutputSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    slug = serializers.SlugField()


class ApiKeyOutputSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=ApiScope.choices))
    rate_limits = serializers.DictField(
        child=serializers.CharField(),
        help_text="This key's own rates by class (`requests/seconds`), instead of the defaults; empty when none.",
    )
    expires_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class TenantDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="tenant_retrieve",
        description="The tenant the API key belongs to.",
        responses={200: TenantOutputSerializer, **problem_responses(is_scoped=False)},
    )
    def get(self, request: Request) -> Response:
        tenant = api_client(request).tenant
        return Response(TenantOutputSerializer(tenant).data)


class ApiKeyListApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.KEYS_READ)]

    @extend_schema(
        operation_id="api_keys_list",
        description="Metadata of the tenant's API keys (requires `keys:read`). Secrets are never returned.",
        responses={200: ApiKeyOutputSerializer(many=True), **problem_responses()},
    )
    def get(self, request: Request) -> Response:
        api_keys = api_key_list(tenant=api_client(request).tenant)
        return Response(ApiKeyOutputSerializer(api_keys, many=True).data)


class ApiKeyDetailApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.KEYS_READ)]

    @extend_schema(
        operation_id="api_keys_retrieve",
        description="Metadata of one of the tenant's API keys (requires `keys:read`).",
        responses={200: ApiKeyOutputSerializer, **problem_responses({404: NO_SUCH_KEY})},
    )
    def get(self, request: Request, api_key_id: uuid.UUID) -> Response:
        try:
            api_key = api_key_get_for_tenant(tenant=api_client(request).tenant, api_key_id=api_key_id)
        except ApiKey.DoesNotExist:
            raise NotFound from None
        return Response(ApiKeyOutputSerializer(api_key).data)


class SchemaApi(SpectacularAPIView):
    """The OpenAPI document, public so that clients can be generated before a key exists."""

    authentication_classes = []
    permission_classes = [AllowAny]
    renderer_classes = [OpenApiJsonRenderer]
