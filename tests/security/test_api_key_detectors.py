"""API keys: failures per key, guessing from one address, and a key used from a network it never used."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.apikeys import BASE62_ALPHABET, IssuedKey, api_key_format, api_key_issue
from accounts.models import ApiScope, Tenant
from audit.alerts.detectors.api_keys import (
    ADDRESS_DETECTOR,
    KEY_DETECTOR,
    NETWORK_DETECTOR,
    api_key_networks_forget,
)
from audit.alerts.models import ApiKeyNetwork, SecurityAlert, ThresholdOverride
from tests.security.support import DetectionClock, alerts_of, detection_settings

pytestmark = pytest.mark.django_db
WINDOW = 600


@pytest.fixture(autouse=True)
def _settings(settings: pytest.FixtureRequest) -> None:
    settings.API_KEY_ENVIRONMENT = "test"  # type: ignore[attr-defined]
    settings.TRUSTED_PROXY_COUNT = 0  # type: ignore[attr-defined]
    # The detectors count the failures the guessing throttle lets through (tests/accounts/test_api_key_guessing.py).
    settings.API_KEY_THROTTLE_KEY_ATTEMPTS = settings.API_KEY_THROTTLE_ADDRESS_ATTEMPTS = 1000  # type: ignore[attr-defined]
    detection_settings(
        settings,
        api_key_window_seconds=WINDOW,
        api_key_failures_per_key=20,
        api_key_failures_per_address=20,
        api_key_new_network=1,
    )


@pytest.fixture
def key_a(tenant_a: Tenant) -> IssuedKey:
    return api_key_issue(tenant=tenant_a, name="A reader", scopes=[ApiScope.KEYS_READ])


@pytest.fixture
def key_b(tenant_b: Tenant) -> IssuedKey:
    return api_key_issue(tenant=tenant_b, name="B reader", scopes=[ApiScope.KEYS_READ])


def call(key: str, *, address: str) -> int:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client.get("/api/v1/tenant/").status_code


def wrong_secret(issued: IssuedKey, index: int) -> str:
    secret = (BASE62_ALPHABET * 2)[index : index + 22]
    return api_key_format(environment="test", key_id=issued.api_key.key_id, secret=secret)


def test_failures_with_one_keys_id_raise_one_alert_for_its_tenant(key_a: IssuedKey, clock: DetectionClock) -> None:
    statuses = {call(wrong_secret(key_a, index), address=f"203.0.113.{index + 1}") for index in range(25)}

    alert = SecurityAlert.objects.get()
    assert statuses == {401}
    assert (alert.detector, alert.tenant_id, alert.severity) == (KEY_DETECTOR, key_a.api_key.tenant_id, "medium")
    assert alert.evidence == {
        "api_key_id": str(key_a.api_key.pk),
        "failures": 20,
        "window_seconds": WINDOW,
        "last_network": "203.0.113.0/24",
    }
    assert key_a.plaintext not in str(alert.evidence) and key_a.api_key.secret_hash not in str(alert.evidence)

    clock.advance(WINDOW * 2)
    for index in range(20):
        call(wrong_secret(key_a, index), address=f"203.0.113.{index + 1}")
    alert.refresh_from_db()
    assert (SecurityAlert.objects.count(), alert.occurrences) == (1, 2)


def test_a_tenant_can_lower_its_own_key_threshold(key_a: IssuedKey, key_b: IssuedKey, clock: DetectionClock) -> None:
    ThresholdOverride.objects.create(tenant_id=key_a.api_key.tenant_id, name="api_key_failures_per_key", value=3)
    for index in range(3):
        call(wrong_secret(key_a, index), address=f"203.0.113.{index + 1}")
        call(wrong_secret(key_b, index), address=f"198.51.100.{index + 1}")

    assert [alert.tenant_id for alert in SecurityAlert.objects.all()] == [key_a.api_key.tenant_id]


def test_guessing_keys_from_one_address_raises_one_operator_alert(key_a: IssuedKey, clock: DetectionClock) -> None:
    made_up = [api_key_format(environment="test", key_id=f"{index:010d}", secret="x" * 22) for index in range(25)]
    statuses = {call(f"gw_test_garbage{index}", address="198.51.100.66") for index in range(30)}  # free, not counted
    statuses |= {call(key, address="198.51.100.66") for key in made_up}

    alert = SecurityAlert.objects.get()
    assert statuses == {401}
    assert (alert.detector, alert.tenant_id, alert.severity) == (ADDRESS_DETECTOR, None, "high")
    assert alert.evidence == {
        "address": "198.51.100.66",
        "network": "198.51.100.0/24",
        "failures": 20,
        "window_seconds": WINDOW,
    }


def test_a_key_used_from_a_new_network_raises_one_alert(key_a: IssuedKey) -> None:
    assert call(key_a.plaintext, address="198.51.100.7") == 200  # the first network: the key's history starts
    assert call(key_a.plaintext, address="198.51.100.99") == 200  # the same /24
    assert SecurityAlert.objects.count() == 0

    assert call(key_a.plaintext, address="203.0.113.5") == 200
    assert call(key_a.plaintext, address="203.0.113.6") == 200
    api_key_networks_forget()  # another process, which has not seen the pair yet
    assert call(key_a.plaintext, address="203.0.113.9") == 200

    alert = SecurityAlert.objects.get()
    assert (alert.detector, alert.tenant_id, alert.severity) == (NETWORK_DETECTOR, key_a.api_key.tenant_id, "medium")
    assert alert.evidence == {"api_key_id": str(key_a.api_key.pk), "network": "203.0.113.0/24"}
    networks = ApiKeyNetwork.objects.filter(api_key_id=key_a.api_key.pk).values_list("network", flat=True)
    assert sorted(networks) == ["198.51.100.0/24", "203.0.113.0/24"]


def test_ipv6_clients_are_grouped_by_their_64(key_a: IssuedKey) -> None:
    call(key_a.plaintext, address="2001:db8:1:2::10")
    call(key_a.plaintext, address="2001:db8:1:2:ffff::1")
    call(key_a.plaintext, address="2001:db8:9:9::1")

    assert [alert.evidence["network"] for alert in alerts_of(NETWORK_DETECTOR)] == ["2001:db8:9:9::/64"]


def test_a_tenant_can_turn_the_new_network_check_off(key_a: IssuedKey) -> None:
    ThresholdOverride.objects.create(tenant_id=key_a.api_key.tenant_id, name="api_key_new_network", value=0)
    call(key_a.plaintext, address="198.51.100.7")
    call(key_a.plaintext, address="203.0.113.5")

    assert SecurityAlert.objects.count() == 0


def test_normal_api_traffic_raises_nothing_and_a_known_network_costs_no_query(
    key_a: IssuedKey, key_b: IssuedKey, clock: DetectionClock
) -> None:
    for index in range(30):
        assert call(key_a.plaintext, address=f"198.51.100.{index % 4 + 1}") == 200
        assert call(key_b.plaintext, address="203.0.113.20") == 200
    with CaptureQueriesContext(connection) as queries:
        call(key_a.plaintext, address="198.51.100.2")

    assert SecurityAlert.objects.count() == 0
    assert not [query for query in queries.captured_queries if ApiKeyNetwork._meta.db_table in query["sql"]]
