"""The /api/v1/ endpoints behind API-key authentication, through the real HTTP stack."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.apikeys import BASE62_ALPHABET, IssuedKey, api_key_issue, api_key_parse, api_key_revoke
from accounts.models import ApiKey, ApiScope, Tenant
from tests.problems import NOT_FOUND, PROBLEM_CONTENT_TYPE, problem

INVALID_KEY = problem(401, "authentication_failed", "Invalid API key.")


@pytest.fixture
def reader_a(tenant_a: Tenant) -> IssuedKey:
    return api_key_issue(tenant=tenant_a, name="A reader", scopes=[ApiScope.KEYS_READ, ApiScope.MESSAGES_READ])


@pytest.fixture
def sender_a(tenant_a: Tenant) -> IssuedKey:
    return api_key_issue(tenant=tenant_a, name="A sender", scopes=[ApiScope.MESSAGES_SEND])


@pytest.fixture
def reader_b(tenant_b: Tenant) -> IssuedKey:
    return api_key_issue(tenant=tenant_b, name="B reader", scopes=[ApiScope.KEYS_READ])


def _client(key: str) -> APIClient:
    client = APIClient(REMOTE_ADDR="203.0.113.5")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def _tampered_checksum(key: str) -> str:
    last = key[-1]
    return key[:-1] + BASE62_ALPHABET[(BASE62_ALPHABET.index(last) + 1) % 62]


def _apikey_updates(context: CaptureQueriesContext) -> int:
    table = connection.ops.quote_name(ApiKey._meta.db_table)
    return sum(1 for query in context.captured_queries if query["sql"].startswith(f"UPDATE {table}"))


# --- Authentication ------------------------------------------------------------------------------


def test_tenant_endpoint_answers_the_keys_own_tenant(reader_a: IssuedKey, reader_b: IssuedKey, tenant_a, tenant_b):
    response_a = _client(reader_a.plaintext).get("/api/v1/tenant/")
    response_b = _client(reader_b.plaintext).get("/api/v1/tenant/")

    assert response_a.status_code == 200
    assert response_a.json() == {"id": str(tenant_a.pk), "name": "Tenant A", "slug": "tenant-a"}
    assert response_b.json() == {"id": str(tenant_b.pk), "name": "Tenant B", "slug": "tenant-b"}


def test_request_without_credentials_answers_401_with_a_bearer_challenge(reader_a: IssuedKey, reader_b: IssuedKey):
    response = APIClient().get("/api/v1/tenant/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    assert response.json() == problem(401, "not_authenticated", "Authentication credentials were not provided.")


def test_tampered_checksum_answers_401_without_database_queries(
    reader_a: IssuedKey, reader_b: IssuedKey, django_assert_num_queries
):
    tampered = _tampered_checksum(reader_a.plaintext)

    with django_assert_num_queries(0):
        response = _client(tampered).get("/api/v1/tenant/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json() == INVALID_KEY
    assert ApiKey.objects.get(pk=reader_a.api_key.pk).last_used_at is None


@pytest.mark.parametrize(
    "header",
    ["Token {key}", "Basic {key}", "Bearer", "Bearer {key} extra", "bearer{key}", "Bearer {key}x", "Bearer ü{key}"],
)
def test_malformed_authorization_headers_answer_the_same_401(reader_a: IssuedKey, reader_b: IssuedKey, header: str):
    value = header.format(key=reader_a.plaintext)

    response = APIClient().get("/api/v1/tenant/", HTTP_AUTHORIZATION=value)

    assert response.status_code == 401
    assert response.json() == INVALID_KEY
    assert reader_a.plaintext not in response.content.decode()


def test_lowercase_bearer_scheme_is_accepted(reader_a: IssuedKey, reader_b: IssuedKey):
    response = APIClient().get("/api/v1/tenant/", HTTP_AUTHORIZATION=f"bearer {reader_a.plaintext}")

    assert response.status_code == 200


def test_expired_key_answers_401(reader_a: IssuedKey, reader_b: IssuedKey):
    ApiKey.objects.filter(pk=reader_a.api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = _client(reader_a.plaintext).get("/api/v1/tenant/")

    assert response.status_code == 401
    assert response.json() == INVALID_KEY
    assert _client(reader_b.plaintext).get("/api/v1/tenant/").status_code == 200


def test_key_revoked_between_requests_answers_401_at_once(reader_a: IssuedKey, reader_b: IssuedKey):
    client = _client(reader_a.plaintext)
    assert client.get("/api/v1/tenant/").status_code == 200

    api_key_revoke(api_key=reader_a.api_key)
    response = client.get("/api/v1/tenant/")

    assert response.status_code == 401
    assert response.json() == INVALID_KEY


def test_key_of_an_inactive_tenant_answers_401(reader_a: IssuedKey, reader_b: IssuedKey, tenant_b: Tenant):
    Tenant.objects.filter(pk=tenant_b.pk).update(is_active=False)

    assert _client(reader_b.plaintext).get("/api/v1/tenant/").status_code == 401
    assert _client(reader_a.plaintext).get("/api/v1/tenant/").status_code == 200


def test_key_from_another_environment_answers_401_without_queries(
    tenant_a: Tenant, tenant_b: Tenant, settings, django_assert_num_queries
):
    settings.API_KEY_ENVIRONMENT = "live"
    live = api_key_issue(tenant=tenant_a, name="live", scopes=[ApiScope.KEYS_READ])
    settings.API_KEY_ENVIRONMENT = "test"

    with django_assert_num_queries(0):
        response = _client(live.plaintext).get("/api/v1/tenant/")

    assert response.status_code == 401
    assert response.json() == INVALID_KEY


def test_key_without_the_scope_answers_403_insufficient_scope(sender_a: IssuedKey, reader_b: IssuedKey):
    response = _client(sender_a.plaintext).get("/api/v1/api-keys/")

    assert response.status_code == 403
    assert response.json() == problem(403, "insufficient_scope", "This API key does not have the keys:read scope.")
    detail = _client(sender_a.plaintext).get(f"/api/v1/api-keys/{sender_a.api_key.pk}/")
    assert detail.status_code == 403


def test_last_used_is_written_once_a_minute_across_requests(
    reader_a: IssuedKey, reader_b: IssuedKey, monkeypatch: pytest.MonkeyPatch
):
    client = _client(reader_a.plaintext)
    start = timezone.now()
    with CaptureQueriesContext(connection) as first_minute:
        assert client.get("/api/v1/tenant/").status_code == 200
        assert client.get("/api/v1/tenant/", REMOTE_ADDR="198.51.100.8").status_code == 200
    monkeypatch.setattr(timezone, "now", lambda: start + timedelta(seconds=61))
    with CaptureQueriesContext(connection) as next_minute:
        assert client.get("/api/v1/tenant/", REMOTE_ADDR="198.51.100.9").status_code == 200

    assert _apikey_updates(first_minute) == 1
    assert _apikey_updates(next_minute) == 1
    stored = ApiKey.objects.get(pk=reader_a.api_key.pk)
    assert (stored.last_used_at, stored.last_used_ip) == (start + timedelta(seconds=61), "198.51.100.9")
    assert ApiKey.objects.get(pk=reader_b.api_key.pk).last_used_at is None


def test_last_used_ip_ignores_x_forwarded_for_without_trusted_proxies(reader_a: IssuedKey, reader_b: IssuedKey):
    response = _client(reader_a.plaintext).get("/api/v1/tenant/", HTTP_X_FORWARDED_FOR="10.9.9.9")

    assert response.status_code == 200
    assert ApiKey.objects.get(pk=reader_a.api_key.pk).last_used_ip == "203.0.113.5"


# --- API key metadata ------------------------------------------------------------------------------


def _metadata(api_key: ApiKey) -> dict[str, object]:
    api_key.refresh_from_db()
    return {
        "id": str(api_key.pk),
        "name": api_key.name,
        "prefix": api_key.prefix,
        "scopes": api_key.scopes,
        "rate_limits": api_key.rate_limits,
        "expires_at": api_key.expires_at.isoformat().replace("+00:00", "Z"),
        "revoked_at": None,
        "last_used_at": api_key.last_used_at.isoformat().replace("+00:00", "Z") if api_key.last_used_at else None,
        "created_at": api_key.created_at.isoformat().replace("+00:00", "Z"),
    }


def test_api_key_list_shows_only_the_tenants_keys_and_only_metadata(
    reader_a: IssuedKey, sender_a: IssuedKey, reader_b: IssuedKey
):
    response = _client(reader_a.plaintext).get("/api/v1/api-keys/")

    assert response.status_code == 200
    body = response.json()
    assert body == [_metadata(sender_a.api_key), _metadata(reader_a.api_key)]
    assert "secret_hash" not in response.content.decode()
    assert reader_a.api_key.secret_hash not in response.content.decode()


def test_api_key_detail_answers_the_tenants_key(reader_a: IssuedKey, sender_a: IssuedKey, reader_b: IssuedKey):
    response = _client(reader_a.plaintext).get(f"/api/v1/api-keys/{sender_a.api_key.pk}/")

    assert response.status_code == 200
    assert response.json() == _metadata(sender_a.api_key)


def test_another_tenants_api_key_id_answers_404_like_a_missing_id(reader_a: IssuedKey, reader_b: IssuedKey):
    client = _client(reader_a.plaintext)

    other_tenant = client.get(f"/api/v1/api-keys/{reader_b.api_key.pk}/")
    missing = client.get(f"/api/v1/api-keys/{uuid.uuid4()}/")

    assert other_tenant.status_code == missing.status_code == 404
    assert other_tenant.content == missing.content
    assert other_tenant.json() == NOT_FOUND
    assert _client(reader_b.plaintext).get(f"/api/v1/api-keys/{reader_b.api_key.pk}/").status_code == 200


# --- Schema ----------------------------------------------------------------------------------------


def test_schema_is_public_json_with_paths_and_the_bearer_scheme(reader_a: IssuedKey, reader_b: IssuedKey):
    response = APIClient().get("/api/v1/schema/", HTTP_AUTHORIZATION="Bearer not-a-key")

    assert response.status_code == 200
    schema = response.json()
    assert {"/api/v1/api-keys/", "/api/v1/api-keys/{api_key_id}/", "/api/v1/tenant/"} <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    assert schema["paths"]["/api/v1/tenant/"]["get"]["security"] == [{"ApiKey": []}]
    assert sorted(schema["components"]["schemas"]["ApiKeyOutput"]["properties"]) == sorted(
        ["id", "name", "prefix", "scopes", "rate_limits", "expires_at", "revoked_at", "last_used_at", "created_at"]
    )


# --- Nothing secret at rest or in logs (T1) ----------------------------------------------------------


def _all_stored_text() -> str:
    cells: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                cells.extend(
                    bytes(cell).decode("latin-1") if isinstance(cell, bytes | memoryview) else str(cell) for cell in row
                )
    return "\n".join(cells)


def test_no_table_and_no_log_line_holds_a_key_or_its_secret(
    tenant_a: Tenant, tenant_b: Tenant, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")
    connection.force_debug_cursor = True  # log every SQL statement with its parameters
    try:
        issued = [
            api_key_issue(tenant=(tenant_a, tenant_b)[index % 2], name=f"key {index}", scopes=[ApiScope.KEYS_READ])
            for index in range(20)
        ]
        for key in issued:
            assert _client(key.plaintext).get("/api/v1/api-keys/").status_code == 200
            assert _client(_tampered_checksum(key.plaintext)).get("/api/v1/tenant/").status_code == 401
        api_key_revoke(api_key=issued[0].api_key)
        assert _client(issued[0].plaintext).get("/api/v1/tenant/").status_code == 401
    finally:
        connection.force_debug_cursor = False

    stored, logged = _all_stored_text(), "\n".join(record.getMessage() for record in caplog.records)
    secrets = [api_key_parse(raw_key=key.plaintext).secret for key in issued]
    assert [key.plaintext for key in issued if key.plaintext in stored or key.plaintext in logged] == []
    assert [secret for secret in secrets if secret in stored or secret in logged] == []
    # The scan can fail: the key ids (public) and their hashes are there, in the rows and in the SQL log.
    assert all(key.api_key.key_id in stored and key.api_key.key_id in logged for key in issued)
    assert all(key.api_key.secret_hash in stored for key in issued)
