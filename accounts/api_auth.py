"""DRF authentication by API key (``Authorization: Bearer gw_...``) and per-operation scope checks.

This module is imported by DRF's settings while ``rest_framework.views`` loads, so it must not import
DRF views or drf-spectacular; the OpenAPI description of the scheme lives in ``accounts.api``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.apikey_guard import ApiKeyThrottledError
from accounts.apikeys import ApiKeyRejectedError, api_key_authenticate
from accounts.models import ApiKey, ApiScope, Tenant
from core.clientip import client_ip
from core.tenancy import all_tenants, edge_scope_set, scope_value

if TYPE_CHECKING:
    from rest_framework.views import APIView

AUTHENTICATION_FAILED_MESSAGE = "Invalid API key."
AUTHENTICATION_SCHEME = "Bearer"
THROTTLED_MESSAGE = "Too many failed API key attempts."


@dataclass(frozen=True)
class ApiClient:
    """``request.user`` for an API request: the key's tenant, the key and its scopes."""

    tenant: Tenant
    api_key: ApiKey
    scopes: frozenset[str]

    is_authenticated: ClassVar[bool] = True
    is_anonymous: ClassVar[bool] = False

    @property
    def pk(self) -> uuid.UUID:
        # Per-client throttles key on request.user.pk.
        return self.api_key.pk


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiClient, ApiKey] | None:
        header = get_authorization_header(request)
        if not header:
            return None
        raw_key = _bearer_token(header)
        try:
            with all_tenants():  # the key names its tenant: until it is found, no tenant is known
                api_key = api_key_authenticate(raw_key=raw_key, ip=client_ip(request._request))
        except ApiKeyRejectedError:
            raise AuthenticationFailed(AUTHENTICATION_FAILED_MESSAGE) from None
        except ApiKeyThrottledError as throttled:
            raise Throttled(throttled.retry_after_seconds, THROTTLED_MESSAGE) from None
        edge_scope_set(scope_value([api_key.tenant_id]))  # the rest of the request sees the key's tenant only
        client = ApiClient(tenant=api_key.tenant, api_key=api_key, scopes=frozenset(api_key.scopes))
        return client, api_key

    def authenticate_header(self, request: Request) -> str:
        # A WWW-Authenticate challenge makes DRF answer 401 rather than 403.
        return AUTHENTICATION_SCHEME


def api_client(request: Request) -> ApiClient:
    """The API client this request authenticated as (the permission classes guarantee one)."""
    client = request.user
    if not isinstance(client, ApiClient):  # pragma: no cover - the permission classes guarantee it
        raise TypeError("expected an API client")
    return client


def _bearer_token(header: bytes) -> str:
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != AUTHENTICATION_SCHEME.lower().encode():  # noqa: PLR2004
        raise AuthenticationFailed(AUTHENTICATION_FAILED_MESSAGE)
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise AuthenticationFailed(AUTHENTICATION_FAILED_MESSAGE) from None


def scope_required(scope: str) -> type[BasePermission]:
    """A permission class that lets through only API clients whose key carries ``scope``."""
    if scope not in ApiScope.values:
        raise ValueError(f"unknown scope {scope!r}")

    class ScopeRequired(BasePermission):
        message = f"This API key does not have the {scope} scope."
        code = "insufficient_scope"
        required_scope = scope

        def has_permission(self, request: Request, view: APIView) -> bool:
            client = request.user
            return isinstance(client, ApiClient) and scope in client.scopes

    ScopeRequired.__name__ = ScopeRequired.__qualname__ = f"ScopeRequired[{scope}]"
    return ScopeRequired
