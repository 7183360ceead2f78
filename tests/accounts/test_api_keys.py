"""API keys: format and checksum, issuing, revocation, authentication and last-use bookkeeping."""

from __future__ import annotations

import hashlib
import hmac
import math
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.apikeys import (
    API_KEY_PATTERN,
    BASE62_ALPHABET,
    ApiKeyError,
    ApiKeyRejectedError,
    IssuedKey,
    api_key_authenticate,
    api_key_format,
    api_key_get_by_reference,
    api_key_get_for_tenant,
    api_key_issue,
    api_key_list,
    api_key_parse,
    api_key_record_use,
    api_key_revoke,
)
from accounts.models import ApiKey, ApiScope, Tenant, User
from audit.models import AuditAction, AuditEvent

FIXED_NOW = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def key_a(tenant_a: Tenant, tenant_b: Tenant) -> IssuedKey:
    api_key_issue(tenant=tenant_b, name="B integration", scopes=[ApiScope.KEYS_READ])
    return api_key_issue(tenant=tenant_a, name="A integration", scopes=[ApiScope.MESSAGES_SEND, ApiScope.KEYS_READ])


def _frozen_now(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr(timezone, "now", lambda: moment)


def _base62_decode(text: str) -> int:
    return sum(BASE62_ALPHABET.index(char) * 62**power for power, char in enumerate(reversed(text)))


def _apikey_updates(context: CaptureQueriesContext) -> list[str]:
    table = connection.ops.quote_name(ApiKey._meta.db_table)
    return [query["sql"] for query in context.captured_queries if query["sql"].startswith(f"UPDATE {table}")]


# --- Codec ---------------------------------------------------------------------------------------


def test_api_key_format_is_pinned_and_round_trips():
    key = api_key_format(environment="test", key_id="0123456789", secret="abcdefghijABCDEFGHIJ01")

    assert key == "gw_test_0123456789_abcdefghijABCDEFGHIJ010eqFOf"
    assert _base62_decode("0eqFOf") == zlib.crc32(b"gw_test_0123456789_abcdefghijABCDEFGHIJ01")
    parsed = api_key_parse(raw_key=key)
    assert (parsed.environment, parsed.key_id, parsed.secret) == ("test", "0123456789", "abcdefghijABCDEFGHIJ01")


def test_api_key_checksum_is_zero_padded_to_six_characters():
    # Find a body whose CRC32 is small enough to need padding, to pin the fixed width.
    secret = next(
        f"{number:022d}"
        for number in range(100_000)
        if zlib.crc32(f"gw_live_AAAAAAAAAA_{number:022d}".encode()) < 62**5
    )
    key = api_key_format(environment="live", key_id="AAAAAAAAAA", secret=secret)

    assert len(key) == 47
    assert key[-6] == "0"
    assert api_key_parse(raw_key=key).secret == secret


def test_api_key_issue_returns_a_well_formed_key_and_stores_only_a_keyed_hash(key_a: IssuedKey, tenant_a: Tenant):
    match = API_KEY_PATTERN.fullmatch(key_a.plaintext)
    assert match is not None
    secret = match["secret"]
    api_key = ApiKey.objects.get(pk=key_a.api_key.pk)

    assert key_a.plaintext.startswith(f"gw_test_{api_key.key_id}_")
    assert len(key_a.plaintext) == 47
    assert api_key.prefix == f"gw_test_{api_key.key_id}"
    assert api_key.environment == "test"
    assert api_key.tenant_id == tenant_a.pk
    assert api_key.scopes == ["messages:send", "keys:read"]
    assert [type(scope) for scope in key_a.api_key.scopes] == [str, str]
    expected_hash = hmac.new(settings.GATEWAY_API_KEY_PEPPER.encode(), secret.encode(), hashlib.sha256).hexdigest()
    assert api_key.secret_hash == expected_hash
    assert api_key.secret_hash != hashlib.sha256(secret.encode()).hexdigest()
    assert len(secret) * math.log2(62) >= 128
    assert key_a.plaintext not in repr(key_a)


def test_api_key_pattern_finds_every_generated_key_in_text(tenant_a: Tenant, tenant_b: Tenant):
    keys = [
        api_key_issue(tenant=tenant, name="scan", scopes=["keys:read"]).plaintext for tenant in (tenant_a, tenant_b)
    ]
    keys += [
        api_key_format(environment=environment, key_id=f"{index:010d}", secret=f"{index * 7919:022d}")
        for index in range(100)
        for environment in ("live", "test")
    ]
    text = "\n".join(f"export GATEWAY_TOKEN='{key}' # key {index}" for index, key in enumerate(keys))

    assert [match.group(0) for match in API_KEY_PATTERN.finditer(text)] == keys


def test_every_single_character_substitution_is_rejected_without_queries(key_a: IssuedKey, django_assert_num_queries):
    original = key_a.plaintext
    replacements = BASE62_ALPHABET + "_-. /+=\x00é"
    mutations = [
        original[:position] + char + original[position + 1 :]
        for position in range(len(original))
        for char in replacements
        if char != original[position]
    ]
    rejected = 0
    with django_assert_num_queries(0):
        for mutation in mutations:
            with pytest.raises(ApiKeyRejectedError):
                api_key_authenticate(raw_key=mutation, ip="192.0.2.1")
            rejected += 1

    assert rejected == len(mutations) == 47 * (len(replacements) - 1)
    assert api_key_authenticate(raw_key=original, ip="192.0.2.1").pk == key_a.api_key.pk


base62_text = st.text(alphabet=BASE62_ALPHABET, min_size=1, max_size=1)
generated_keys = st.builds(
    lambda environment, key_id, secret: api_key_format(environment=environment, key_id=key_id, secret=secret),
    st.sampled_from(["live", "test"]),
    st.text(alphabet=BASE62_ALPHABET, min_size=10, max_size=10),
    st.text(alphabet=BASE62_ALPHABET, min_size=22, max_size=22),
)
any_character = st.characters(exclude_categories=["Cs"])


@st.composite
def mutated(draw: st.DrawFn, keys: st.SearchStrategy[str]) -> tuple[str, str]:
    key = draw(keys)
    kind = draw(st.sampled_from(["replace", "insert", "delete"]))
    if kind == "insert":
        position = draw(st.integers(0, len(key)))
        return key, key[:position] + draw(any_character) + key[position:]
    position = draw(st.integers(0, len(key) - 1))
    if kind == "delete":
        return key, key[:position] + key[position + 1 :]
    char = draw(any_character.filter(lambda candidate: candidate != key[position]))
    return key, key[:position] + char + key[position + 1 :]


@hypothesis_settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_single_character_mutations_are_rejected_without_queries(
    data: st.DataObject, key_a: IssuedKey, django_assert_num_queries
):
    original, mutation = data.draw(mutated(st.one_of(st.just(key_a.plaintext), generated_keys)))

    assert api_key_parse(raw_key=original).key_id == original.split("_")[2]
    with django_assert_num_queries(0), pytest.raises(ApiKeyRejectedError):
        api_key_authenticate(raw_key=mutation, ip="192.0.2.1")


def test_api_key_parse_rejects_malformed_strings():
    valid = api_key_format(environment="test", key_id="0123456789", secret="abcdefghijABCDEFGHIJ01")
    for raw_key in [
        "",
        "gw_test_",
        valid + "\n",
        " " + valid,
        valid.upper(),
        valid.replace("gw_test", "gw_prod"),
        valid.replace("_", "-"),
        "gw_test_0123456789_" + "a" * 28,
    ]:
        with pytest.raises(ApiKeyRejectedError):
            api_key_parse(raw_key=raw_key)


# --- Authentication --------------------------------------------------------------------------------


def test_api_key_authenticate_returns_the_key_with_its_tenant(key_a: IssuedKey, tenant_a: Tenant):
    api_key = api_key_authenticate(raw_key=key_a.plaintext, ip="203.0.113.9")

    assert api_key.pk == key_a.api_key.pk
    assert api_key.tenant == tenant_a
    assert api_key.last_used_ip == "203.0.113.9"


def test_api_key_from_another_environment_is_rejected_without_queries(
    tenant_a: Tenant, tenant_b: Tenant, settings, django_assert_num_queries
):
    settings.API_KEY_ENVIRONMENT = "live"
    live = api_key_issue(tenant=tenant_a, name="live", scopes=["keys:read"])
    settings.API_KEY_ENVIRONMENT = "test"
    test = api_key_issue(tenant=tenant_b, name="test", scopes=["keys:read"])

    with django_assert_num_queries(0), pytest.raises(ApiKeyRejectedError):
        api_key_authenticate(raw_key=live.plaintext, ip="")
    settings.API_KEY_ENVIRONMENT = "live"
    with django_assert_num_queries(0), pytest.raises(ApiKeyRejectedError):
        api_key_authenticate(raw_key=test.plaintext, ip="")
    assert api_key_authenticate(raw_key=live.plaintext, ip="").pk == live.api_key.pk


def test_api_key_with_right_id_but_wrong_secret_is_rejected_and_not_marked_used(key_a: IssuedKey):
    api_key = key_a.api_key
    forged = api_key_format(environment="test", key_id=api_key.key_id, secret="A" * 22)

    with pytest.raises(ApiKeyRejectedError):
        api_key_authenticate(raw_key=forged, ip="192.0.2.1")
    api_key.refresh_from_db()
    assert api_key.last_used_at is None


def test_api_key_unknown_id_is_rejected(tenant_a: Tenant, tenant_b: Tenant):
    unknown = api_key_format(environment="test", key_id="ZZZZZZZZZZ", secret="A" * 22)

    with pytest.raises(ApiKeyRejectedError, match=r"^invalid API key$"):
        api_key_authenticate(raw_key=unknown, ip="")


def test_expired_revoked_and_inactive_tenant_keys_are_rejected(tenant_a: Tenant, tenant_b: Tenant):
    expired = api_key_issue(tenant=tenant_a, name="expired", scopes=["keys:read"])
    ApiKey.objects.filter(pk=expired.api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    revoked = api_key_issue(tenant=tenant_a, name="revoked", scopes=["keys:read"])
    api_key_revoke(api_key=revoked.api_key)
    inactive = api_key_issue(tenant=tenant_b, name="inactive tenant", scopes=["keys:read"])
    Tenant.objects.filter(pk=tenant_b.pk).update(is_active=False)

    for issued in (expired, revoked, inactive):
        with pytest.raises(ApiKeyRejectedError, match=r"^invalid API key$"):
            api_key_authenticate(raw_key=issued.plaintext, ip="")
        assert ApiKey.objects.get(pk=issued.api_key.pk).last_used_at is None


def test_last_used_is_written_at_most_once_a_minute(key_a: IssuedKey, monkeypatch: pytest.MonkeyPatch):
    _frozen_now(monkeypatch, FIXED_NOW - timedelta(days=1))
    issued = api_key_issue(tenant=key_a.api_key.tenant, name="clock", scopes=["keys:read"])

    _frozen_now(monkeypatch, FIXED_NOW)
    with CaptureQueriesContext(connection) as first_minute:
        api_key_authenticate(raw_key=issued.plaintext, ip="192.0.2.1")
        api_key_authenticate(raw_key=issued.plaintext, ip="192.0.2.2")
    _frozen_now(monkeypatch, FIXED_NOW + timedelta(seconds=61))
    with CaptureQueriesContext(connection) as next_minute:
        api_key_authenticate(raw_key=issued.plaintext, ip="192.0.2.3")

    assert len(_apikey_updates(first_minute)) == 1
    assert len(_apikey_updates(next_minute)) == 1
    issued.api_key.refresh_from_db()
    assert (issued.api_key.last_used_at, issued.api_key.last_used_ip) == (
        FIXED_NOW + timedelta(seconds=61),
        "192.0.2.3",
    )


def test_last_used_conditional_update_lets_only_one_concurrent_request_write(key_a: IssuedKey):
    # Two requests that loaded the row before either wrote: both pass the Python check.
    first, second = ApiKey.objects.get(pk=key_a.api_key.pk), ApiKey.objects.get(pk=key_a.api_key.pk)
    now = timezone.now()

    assert api_key_record_use(api_key=first, ip="192.0.2.1", now=now) is True
    assert api_key_record_use(api_key=second, ip="192.0.2.2", now=now + timedelta(seconds=1)) is False
    stored = ApiKey.objects.get(pk=key_a.api_key.pk)
    assert (stored.last_used_at, stored.last_used_ip) == (now, "192.0.2.1")


def test_last_used_ip_ignores_a_malformed_address(key_a: IssuedKey):
    api_key = api_key_authenticate(raw_key=key_a.plaintext, ip="not-an-ip, 10.0.0.1")

    assert ApiKey.objects.get(pk=api_key.pk).last_used_ip is None
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at is not None


# --- Issuing ---------------------------------------------------------------------------------------


def test_api_key_issue_defaults_expiry_to_ninety_days(tenant_a: Tenant, tenant_b: Tenant, monkeypatch):
    _frozen_now(monkeypatch, FIXED_NOW)

    issued = api_key_issue(tenant=tenant_a, name="default", scopes=["keys:read"])

    assert issued.api_key.expires_at == FIXED_NOW + timedelta(days=90)
    assert ApiKey.objects.get(pk=issued.api_key.pk).expires_at == FIXED_NOW + timedelta(days=90)


def test_api_key_issue_accepts_exactly_the_maximum_lifetime(tenant_a: Tenant, tenant_b: Tenant, monkeypatch):
    _frozen_now(monkeypatch, FIXED_NOW)

    issued = api_key_issue(
        tenant=tenant_a, name="max", scopes=["keys:read"], expires_at=FIXED_NOW + timedelta(days=365)
    )

    assert issued.api_key.expires_at == FIXED_NOW + timedelta(days=365)


def test_api_key_issue_deduplicates_scopes_in_order_and_strips_the_name(tenant_a: Tenant, tenant_b: Tenant):
    issued = api_key_issue(
        tenant=tenant_a, name="  CRM  ", scopes=["keys:read", "messages:send", "keys:read", "messages:send"]
    )

    assert issued.api_key.scopes == ["keys:read", "messages:send"]
    assert ApiKey.objects.get(pk=issued.api_key.pk).name == "CRM"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"expires_at": FIXED_NOW + timedelta(days=365, seconds=1)}, "The expiry must be at most 365 days away"),
        ({"expires_at": FIXED_NOW - timedelta(seconds=1)}, "The expiry must be in the future"),
        ({"expires_at": FIXED_NOW}, "The expiry must be in the future"),
        ({"expires_at": datetime(2030, 2, 1)}, "The expiry must be timezone-aware"),
        ({"scopes": []}, "at least one scope is required"),
        (
            {"scopes": ["keys:read", "keys:write"]},
            "unknown scope(s): keys:write; known: messages:send, messages:read, "
            "contacts:read, contacts:erase, policies:read, keys:read, events:manage, events:read, templates:manage, "
            "reports:read, contacts:export",
        ),
        ({"scopes": "keys:read"}, "the scopes must be a list of scope names, not one string"),
        (
            {"rate_limits": {"uploads": "1/60"}},
            "unknown rate-limit class(es): uploads; known: sends, exports, erasures, reads, writes",
        ),
        (
            {"rate_limits": {"exports": "10/0"}},
            "exports: '10/0' is not a rate: write <requests>/<seconds>, e.g. 600/60",
        ),
        ({"name": "   "}, "a name is required"),
        ({"name": "x" * 201}, "the name is longer than 200 characters"),
    ],
)
def test_api_key_issue_refuses_bad_input_and_writes_nothing(
    tenant_a: Tenant, tenant_b: Tenant, monkeypatch, changes: dict[str, object], message: str
):
    _frozen_now(monkeypatch, FIXED_NOW)
    arguments: dict[str, object] = {"tenant": tenant_a, "name": "bad", "scopes": ["keys:read"], **changes}

    with pytest.raises(ApiKeyError) as raised:
        api_key_issue(**arguments)  # type: ignore[arg-type]

    assert str(raised.value) == message
    assert ApiKey.objects.count() == 0
    assert AuditEvent.objects.filter(action=AuditAction.API_KEY_ISSUED).count() == 0


def test_api_key_issue_refuses_an_inactive_tenant(tenant_a: Tenant, tenant_b: Tenant):
    Tenant.objects.filter(pk=tenant_b.pk).update(is_active=False)
    tenant_b.refresh_from_db()

    with pytest.raises(ApiKeyError, match=r"^tenant tenant-b is inactive$"):
        api_key_issue(tenant=tenant_b, name="x", scopes=["keys:read"])
    assert ApiKey.objects.count() == 0


# --- Audit -----------------------------------------------------------------------------------------


def test_api_key_issue_writes_exactly_one_audit_event_without_the_secret(tenant_a: Tenant, owner_a: User, tenant_b):
    issued = api_key_issue(
        tenant=tenant_a, name="audited", scopes=["messages:send", "keys:read"], created_by=owner_a, ip="198.51.100.4"
    )
    api_key = issued.api_key

    events = list(AuditEvent.objects.filter(action=AuditAction.API_KEY_ISSUED))
    assert len(events) == 1
    event = events[0]
    assert (event.chain, event.tenant_id, event.actor_id, event.actor_label) == (
        str(tenant_a.pk),
        tenant_a.pk,
        owner_a.pk,
        "owner@a.example",
    )
    assert (event.target_type, event.target_id, event.ip) == ("api_key", str(api_key.pk), "198.51.100.4")
    assert event.details == {
        "key_id": api_key.key_id,
        "scopes": "messages:send keys:read",
        "expires_at": api_key.expires_at.isoformat(),
    }
    assert api_key_parse(raw_key=issued.plaintext).secret not in str(vars(event))
    assert AuditEvent.objects.filter(chain=str(tenant_b.pk)).count() == 0


def test_api_key_audit_ip_is_blank_when_the_address_is_malformed(tenant_a: Tenant, tenant_b: Tenant):
    api_key_issue(tenant=tenant_a, name="proxied", scopes=["keys:read"], ip="x" * 100)

    assert list(AuditEvent.objects.values_list("ip", flat=True)) == [""]


def test_api_key_revoke_is_idempotent_and_audited_once(key_a: IssuedKey, owner_a: User):
    first = api_key_revoke(api_key=key_a.api_key, revoked_by=owner_a, ip="198.51.100.4")
    revoked_at = first.revoked_at
    second = api_key_revoke(api_key=ApiKey.objects.get(pk=key_a.api_key.pk), revoked_by=owner_a)

    assert revoked_at is not None
    assert second.revoked_at == revoked_at
    events = list(AuditEvent.objects.filter(action=AuditAction.API_KEY_REVOKED))
    assert [(event.tenant_id, event.target_id, event.actor_label, event.details) for event in events] == [
        (key_a.api_key.tenant_id, str(key_a.api_key.pk), "owner@a.example", {"key_id": key_a.api_key.key_id})
    ]


# --- Selectors -------------------------------------------------------------------------------------


def test_api_key_selectors_are_scoped_to_the_tenant(key_a: IssuedKey, tenant_a: Tenant, tenant_b: Tenant):
    other = ApiKey.objects.get(tenant=tenant_b)

    assert [api_key.pk for api_key in api_key_list(tenant=tenant_a)] == [key_a.api_key.pk]
    assert [api_key.pk for api_key in api_key_list(tenant=tenant_b)] == [other.pk]
    assert api_key_get_for_tenant(tenant=tenant_a, api_key_id=key_a.api_key.pk).pk == key_a.api_key.pk
    with pytest.raises(ApiKey.DoesNotExist):
        api_key_get_for_tenant(tenant=tenant_a, api_key_id=other.pk)


def test_api_key_get_by_reference_accepts_uuid_key_id_and_prefix(key_a: IssuedKey):
    api_key = key_a.api_key

    for reference in (str(api_key.pk), api_key.key_id, api_key.prefix, f" {api_key.prefix}\n"):
        assert api_key_get_by_reference(reference=reference).pk == api_key.pk
    for reference in (f"gw_live_{api_key.key_id}", key_a.plaintext, "nothing", api_key.key_id[:-1], ""):
        with pytest.raises(ApiKey.DoesNotExist):
            api_key_get_by_reference(reference=reference)
