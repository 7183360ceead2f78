"""The webhook edge: handshake, signature matrix, size cap, and the raw delivery ledger."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as settings_module
from django.db import connection
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from core.metrics import metric_value
from messaging.channels import channel_add, meta_app_register, meta_app_rotate_secret
from messaging.models import MetaApp
from webhooks import services as webhook_services
from webhooks import views as webhook_views
from webhooks.models import Delivery
from webhooks.signature import signature_for

pytestmark = pytest.mark.django_db
SECRET_A = "a" * 32
SECRET_B = "b" * 32
FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "meta"
SHARED_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "meta-fixtures"
# META-SPEC §2: Meta signs its escaped-unicode serialisation; the raw bytes must be hashed as received.
ESCAPED_BODY = (
    b'{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product"'
    b':"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":'
    b'[{"profile":{"name":"J\\u00f6rg \\u00e4\\u00f6\\u00e5"},"wa_id":"16505551234"}],"messages":[{"from":'
    b'"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1749416383","type":"text",'
    b'"text":{"body":"Caf\\u00e9 \\ud83d\\ude00 https:\\/\\/example.com\\/x"}}]},"field":"messages"}]}]}'
)


@pytest.fixture
def app_a(tenant_a: Tenant) -> MetaApp:
    return meta_app_register(tenant=tenant_a, name="A app", app_secret=SECRET_A, actor=CLI_ACTOR).meta_app


@pytest.fixture
def app_b(tenant_b: Tenant) -> MetaApp:
    return meta_app_register(tenant=tenant_b, name="B app", app_secret=SECRET_B, actor=CLI_ACTOR).meta_app


def _post(app_key: str, body: bytes, signature: str | None) -> int:
    headers: dict[str, Any] = {} if signature is None else {"HTTP_X_HUB_SIGNATURE_256": signature}
    return Client().post(f"/webhooks/meta/{app_key}/", body, content_type="application/json", **headers).status_code


def test_signature_known_answers() -> None:
    github = signature_for("It's a Secret to Everybody", b"Hello, World!")
    meta = signature_for("test_app_secret", ESCAPED_BODY)

    assert github == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert len(ESCAPED_BODY) == 531
    assert meta == "sha256=2a253e7225bca715f7a8bf58ce568c834110ba1a8b3cc3d9e0d37be0ff398b09"


def test_escaped_unicode_body_verifies_and_reserialised_json_does_not(tenant_a: Tenant) -> None:
    app = meta_app_register(tenant=tenant_a, name="Vector", app_secret="test_app_secret", actor=CLI_ACTOR).meta_app
    parsed = json.loads(ESCAPED_BODY)
    reserialised = [
        json.dumps(parsed, ensure_ascii=False, separators=(",", ":")).encode(),
        json.dumps(parsed, separators=(",", ":")).encode(),
    ]

    assert _post(app.app_key, ESCAPED_BODY, signature_for("test_app_secret", ESCAPED_BODY)) == 200
    for body in reserialised:
        assert _post(app.app_key, body, signature_for("test_app_secret", ESCAPED_BODY)) == 401
    assert Delivery.objects.count() == 1


def _matrix(body: bytes) -> dict[str, str | None]:
    good = signature_for(SECRET_A, body)
    changed = bytearray(body)
    changed[5] ^= 1
    return {
        "missing": None,
        "empty": "",
        "sha1 only": "sha1=" + "0" * 40,
        "other scheme": "sha512=" + good[7:],
        "uppercase hex": "sha256=" + good[7:].upper(),
        "truncated": good[:-1],
        "too long": good + "0",
        "non-hex": "sha256=" + "z" * 64,
        "another body": signature_for(SECRET_A, b"{}"),
        "another tenant's secret": signature_for(SECRET_B, body),
        "one changed byte": signature_for(SECRET_A, bytes(changed)),
        "two headers joined": good + "," + good,
    }


def test_every_bad_signature_is_a_bare_401_that_writes_nothing(app_a: MetaApp, app_b: MetaApp) -> None:
    body = (FIXTURES / "whatsapp_text.json").read_bytes()
    failures_before = metric_value("gateway_webhooks", outcome="rejected_signature")

    results = {name: _post(app_a.app_key, body, signature) for name, signature in _matrix(body).items()}

    assert results == dict.fromkeys(results, 401)
    assert Delivery.objects.count() == 0
    assert metric_value("gateway_webhooks", outcome="rejected_signature") - failures_before == len(results)


def test_unknown_app_answers_exactly_like_a_bad_signature(app_a: MetaApp) -> None:
    body = b'{"object":"page","entry":[]}'
    unknown = Client().post(
        "/webhooks/meta/not-an-app/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature_for(SECRET_A, body),
    )
    bad = Client().post(
        f"/webhooks/meta/{app_a.app_key}/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature_for(SECRET_B, body),
    )

    assert (unknown.status_code, unknown.content) == (bad.status_code, bad.content) == (401, b"")


def test_a_valid_post_is_stored_encrypted_before_the_200(app_a: MetaApp, tenant_a: Tenant) -> None:
    marker = "canary-4e1f0b7c9d2a"
    body = (FIXTURES / "whatsapp_text.json").read_bytes().replace(b'"body"', f'"{marker}"'.encode(), 1)

    assert _post(app_a.app_key, body, signature_for(SECRET_A, body)) == 200

    delivery = Delivery.objects.get()
    assert delivery.body == body
    assert (delivery.tenant_id, delivery.body_bytes, delivery.status) == (tenant_a.pk, len(body), "received")
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM webhooks_delivery")
        [(stored,)] = cursor.fetchall()
    assert marker.encode() not in bytes(stored)


def test_a_shared_app_stores_under_the_operator_keys(db: None) -> None:
    shared = meta_app_register(tenant=None, name="Shared", app_secret=SECRET_A, actor=CLI_ACTOR).meta_app
    body = b'{"object":"whatsapp_business_account","entry":[]}'

    assert _post(shared.app_key, body, signature_for(SECRET_A, body)) == 200
    assert Delivery.objects.get().tenant_id is None


def test_previous_secret_is_honoured_only_inside_its_window(app_a: MetaApp, monkeypatch: pytest.MonkeyPatch) -> None:
    body = b'{"object":"page","entry":[]}'
    assert _post(app_a.app_key, body, signature_for(SECRET_A, body)) == 200  # the edge now caches the app
    meta_app_rotate_secret(meta_app=app_a, new_secret="n" * 32, overlap=timedelta(hours=1), actor=CLI_ACTOR)

    assert _post(app_a.app_key, body, signature_for("n" * 32, body)) == 200  # a rotation works at once
    assert _post(app_a.app_key, body, signature_for(SECRET_A, body)) == 200
    later = timezone.now() + timedelta(hours=1, seconds=1)
    monkeypatch.setattr("messaging.models.apps_channels.timezone.now", lambda: later)
    assert _post(app_a.app_key, body, signature_for(SECRET_A, body)) == 401
    assert _post(app_a.app_key, body, signature_for("n" * 32, body)) == 200
    assert Delivery.objects.count() == 4


def test_a_deactivated_app_is_refused_once_the_edge_cache_expires(
    app_a: MetaApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = b"{}"
    assert _post(app_a.app_key, body, signature_for(SECRET_A, body)) == 200
    MetaApp.objects.filter(pk=app_a.pk).update(is_active=False)
    assert _post(app_a.app_key, body, signature_for(SECRET_A, body)) == 200  # still inside the cache time

    expired = time.monotonic() + settings_module.GATEWAY_WEBHOOK_APP_CACHE_SECONDS + 1
    monkeypatch.setattr("webhooks.app_cache.time.monotonic", lambda: expired)
    assert _post(app_a.app_key, body, signature_for(SECRET_A, body)) == 401


def test_bodies_over_three_mebibytes_get_413_and_nothing_is_stored(app_a: MetaApp) -> None:
    body = b"{" + b" " * (3 * 1024 * 1024) + b"}"

    assert _post(app_a.app_key, body, signature_for(SECRET_A, body)) == 413
    assert Delivery.objects.count() == 0


def test_inactive_app_is_refused(app_a: MetaApp) -> None:
    MetaApp.objects.filter(pk=app_a.pk).update(is_active=False)
    body = b"{}"

    assert _post(app_a.app_key, body, signature_for(SECRET_A, body)) == 401


@pytest.mark.parametrize("fixture", sorted(path.name for path in FIXTURES.glob("*.json")))
def test_every_fixture_is_accepted_and_stored_byte_for_byte(app_a: MetaApp, fixture: str) -> None:
    body = (FIXTURES / fixture).read_bytes()

    assert _post(app_a.app_key, body, signature_for(SECRET_A, body)) == 200
    assert Delivery.objects.get().body == body


# Built here from Meta's documented examples (coexistence, edits and revokes), not copied from the shared set.
AUTHORED_FIXTURES = frozenset(
    {
        "instagram_message_edit.json",
        "messenger_message_edit.json",
        "whatsapp_edit.json",
        "whatsapp_revoke.json",
        "whatsapp_history.json",
        "whatsapp_history_declined.json",
        "whatsapp_smb_app_state_sync.json",
        "whatsapp_smb_message_echoes.json",
    }
)


def test_the_fixtures_are_verbatim_copies_of_the_shared_set() -> None:
    if not SHARED_FIXTURES.is_dir():
        pytest.skip("the shared fixture folder is not beside this checkout")
    for path in FIXTURES.glob("*.json"):
        if path.name in AUTHORED_FIXTURES:
            assert not (SHARED_FIXTURES / path.name).exists(), f"{path.name} is in the shared set: copy it verbatim"
            continue
        assert path.read_bytes() == (SHARED_FIXTURES / path.name).read_bytes(), path.name


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"hub.mode": "subscribe", "hub.challenge": "1158201444"}, 200),
        ({"hub.mode": "subscribe", "hub.challenge": "not-a-number"}, 200),
        ({"hub.mode": "unsubscribe", "hub.challenge": "1"}, 403),
        ({"hub.mode": "subscribe"}, 403),
    ],
)
def test_handshake(tenant_a: Tenant, query: dict[str, str], status: int) -> None:
    registered = meta_app_register(tenant=tenant_a, name="A", app_secret=SECRET_A, actor=CLI_ACTOR)

    response = Client().get(
        f"/webhooks/meta/{registered.meta_app.app_key}/", {**query, "hub.verify_token": registered.verify_token}
    )

    assert response.status_code == status
    if status == 200:
        assert response.content.decode() == query["hub.challenge"]
        assert response["Content-Type"].startswith("text/plain")


def test_handshake_refuses_wrong_tokens_and_other_tenants_tokens(tenant_a: Tenant, tenant_b: Tenant) -> None:
    a = meta_app_register(tenant=tenant_a, name="A", app_secret=SECRET_A, actor=CLI_ACTOR)
    b = meta_app_register(tenant=tenant_b, name="B", app_secret=SECRET_B, actor=CLI_ACTOR)
    query = {"hub.mode": "subscribe", "hub.challenge": "42"}

    assert Client().get(f"/webhooks/meta/{a.meta_app.app_key}/", {**query, "hub.verify_token": "x"}).status_code == 403
    assert (
        Client().get(f"/webhooks/meta/{b.meta_app.app_key}/", {**query, "hub.verify_token": a.verify_token}).status_code
        == 403
    )
    assert Client().get("/webhooks/meta/unknown/", {**query, "hub.verify_token": a.verify_token}).status_code == 403


def test_other_methods_are_refused(app_a: MetaApp) -> None:
    assert Client().put(f"/webhooks/meta/{app_a.app_key}/", b"{}").status_code == 405


def test_a_tenant_app_cannot_carry_another_tenants_channel(app_a: MetaApp, tenant_b: Tenant) -> None:
    from messaging.errors import MessagingError

    with pytest.raises(MessagingError, match="belongs to another tenant"):
        channel_add(
            tenant=tenant_b,
            meta_app=app_a,
            platform="whatsapp",
            provider_id="106540352242922",
            access_token="t" * 40,
            actor=CLI_ACTOR,
        )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=2048), st.text(max_size=512).map(str.encode)))
def test_any_signed_body_is_stored_and_answered_200(app_a: MetaApp, body: bytes) -> None:
    before = Delivery.objects.count()

    assert _post(app_a.app_key, body, signature_for(SECRET_A, body)) == 200
    assert Delivery.objects.count() == before + 1
    assert Delivery.objects.order_by("-received_at").first().body == body  # type: ignore[union-attr]


def test_a_delivery_keeps_how_long_it_took_to_record(app_a: MetaApp, monkeypatch: pytest.MonkeyPatch) -> None:
    body = (FIXTURES / "whatsapp_text.json").read_bytes()
    ticks = iter([100.0, 100.04, 100.05])  # the view takes the request, the row is built, the 200 goes

    class Clock:
        @staticmethod
        def perf_counter() -> float:
            return next(ticks)

    monkeypatch.setattr(webhook_views, "time", Clock)
    monkeypatch.setattr(webhook_services, "time", Clock)
    acks_before = metric_value("gateway_webhook_ack_seconds", platform="meta")

    assert _post(app_a.app_key, body, signature_for(SECRET_A, body)) == 200

    assert Delivery.objects.get().ack_ms == 40  # milliseconds
    assert metric_value("gateway_webhook_ack_seconds", platform="meta") == acks_before + 1
