"""``/metrics``: who may read it, the families it exposes, the counters the real paths move and the backlogs read
at scrape time (on Redis and on the embedded broker); ``/readyz``'s key provider probe."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import current_app
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from pytest_django.fixtures import Settings

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from audit.alerts import listeners
from audit.alerts.models import Severity
from audit.alerts.services import AlertSpec, alert_raise
from core.metrics import metric_value
from encryption import providers
from encryption.errors import DecryptionError
from messaging.channels import meta_app_register
from messaging.models import MetaApp
from webhooks.models import Delivery
from webhooks.signature import signature_for

pytestmark = pytest.mark.django_db

SECRET = "m" * 32
TOKEN = "scrape-token-" + "x" * 24
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta"
FAMILIES = (
    "gateway_webhook_ack_seconds",
    "gateway_webhooks",
    "gateway_sends",
    "gateway_purged",
    "gateway_security_alerts",
    "gateway_queue_backlog",
    "gateway_webhook_backlog",
    "gateway_webhook_backlog_oldest_seconds",
    "gateway_outbound_queued",
    "gateway_outbound_queued_oldest_seconds",
    "gateway_event_backlog",
    "gateway_event_backlog_oldest_seconds",
    "gateway_event_backlog_endpoints",
    "gateway_security_alerts_open",
    "gateway_channels_paused",
    "gateway_scrape_source_up",
)


def scrape(**headers: Any) -> str:
    response = Client().get("/metrics", **headers)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain; version=")
    return response.content.decode()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the one sample ``name`` with exactly ``labels`` in an exposition, or None."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None


@pytest.fixture
def meta_app(tenant_a: Tenant) -> MetaApp:
    return meta_app_register(tenant=tenant_a, name="Metrics app", app_secret=SECRET, actor=CLI_ACTOR).meta_app


def webhook_post(app: MetaApp, body: bytes, signature: str) -> int:
    path = f"/webhooks/meta/{app.app_key}/"
    return Client().post(path, body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=signature).status_code


# --- who may read it ------------------------------------------------------------------------------------------


def test_with_a_token_configured_only_its_bearer_reads_the_metrics(settings: Settings) -> None:
    settings.GATEWAY_METRICS_TOKEN = TOKEN

    missing = Client().get("/metrics")
    wrong = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")
    basic = Client().get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}")

    assert [missing.status_code, wrong.status_code, basic.status_code] == [401, 401, 401]
    assert missing["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"gateway_" not in missing.content + wrong.content + basic.content
    assert "gateway_sends_total" in scrape(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


def test_without_a_token_production_hides_the_endpoint_and_development_serves_it(settings: Settings) -> None:
    settings.GATEWAY_METRICS_TOKEN = ""
    settings.IS_PRODUCTION = True
    hidden = Client().get("/metrics")
    settings.IS_PRODUCTION = False

    assert (hidden.status_code, hidden.content) == (404, b"")
    assert "gateway_sends_total" in scrape()


def test_the_metrics_endpoint_answers_get_only_and_is_not_in_the_api_schema() -> None:
    schema = Client().get("/api/v1/schema/")

    assert Client().post("/metrics").status_code == 405
    assert schema.status_code == 200
    assert not [path for path in schema.json()["paths"] if "metrics" in path]


def test_every_family_is_exposed_with_bounded_labels() -> None:
    families = {family.name: family for family in text_string_to_metric_families(scrape())}

    assert set(FAMILIES) <= set(families), set(FAMILIES) - set(families)
    assert families["gateway_webhook_ack_seconds"].type == "histogram"
    labels = {
        key for family in families.values() if family.name.startswith("gateway_") for key in family_labels(family)
    }
    assert labels <= {"platform", "outcome", "kind", "queue", "severity", "source", "model", "field", "le"}


def family_labels(family: Any) -> set[str]:
    return {key for found in family.samples for key in found.labels}


# --- the counters the real paths move ------------------------------------------------------------------------


def test_a_signed_webhook_counts_as_accepted_and_its_acknowledgement_is_timed(meta_app: MetaApp) -> None:
    body = (FIXTURES / "whatsapp_text.json").read_bytes()
    accepted_before = metric_value("gateway_webhooks", platform="meta", outcome="accepted")
    acks_before = metric_value("gateway_webhook_ack_seconds", platform="meta")

    assert webhook_post(meta_app, body, signature_for(SECRET, body)) == 200

    assert metric_value("gateway_webhooks", platform="meta", outcome="accepted") == accepted_before + 1
    assert metric_value("gateway_webhook_ack_seconds", platform="meta") == acks_before + 1
    text = scrape()
    assert sample(text, "gateway_webhooks_total", platform="meta", outcome="accepted") == accepted_before + 1
    assert sample(text, "gateway_webhook_ack_seconds_count", platform="meta") == acks_before + 1
    assert sample(text, "gateway_webhook_ack_seconds_bucket", platform="meta", le="+Inf") == acks_before + 1
    # Stored, its processing published but not run: one delivery waiting.
    assert sample(text, "gateway_webhook_backlog") == 1


def test_a_bad_signature_counts_as_rejected_and_is_not_timed(meta_app: MetaApp) -> None:
    body = (FIXTURES / "whatsapp_text.json").read_bytes()
    rejected_before = metric_value("gateway_webhooks", platform="meta", outcome="rejected_signature")
    acks_before = metric_value("gateway_webhook_ack_seconds", platform="meta")

    assert webhook_post(meta_app, body, signature_for("w" * 32, body)) == 401

    assert metric_value("gateway_webhooks", platform="meta", outcome="rejected_signature") == rejected_before + 1
    assert metric_value("gateway_webhook_ack_seconds", platform="meta") == acks_before
    assert sample(scrape(), "gateway_webhook_backlog") == 0


def test_a_raised_alert_is_counted_by_detector_once_committed_and_shows_open(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    monkeypatch.setattr(listeners, "_writers", [])
    monkeypatch.setattr(listeners, "_notifiers", [])
    spec = AlertSpec(
        detector="metrics.test_detector",
        dedupe_key="app:1",
        tenant_id=uuid.uuid4(),
        severity=Severity.HIGH,
        title="Something looks wrong",
        evidence={"failures": 3},
        suggested_action="Look into it.",
    )
    before = metric_value("gateway_security_alerts", kind="metrics.test_detector")

    with django_capture_on_commit_callbacks(execute=False) as uncommitted:
        alert_raise(spec=spec)
    assert metric_value("gateway_security_alerts", kind="metrics.test_detector") == before
    for callback in uncommitted:
        callback()
    with django_capture_on_commit_callbacks(execute=True):
        alert_raise(spec=spec)  # bumps the open one: raised again, still one open

    assert metric_value("gateway_security_alerts", kind="metrics.test_detector") == before + 2
    text = scrape()
    assert sample(text, "gateway_security_alerts_total", kind="metrics.test_detector") == before + 2
    assert sample(text, "gateway_security_alerts_open", severity="high") == 1
    assert sample(text, "gateway_security_alerts_open", severity="low") == 0


# --- backlogs read at scrape time ----------------------------------------------------------------------------


def test_the_queue_backlog_counts_the_tasks_waiting_on_each_queue() -> None:
    for _ in range(3):
        current_app.send_task("media.metrics_backlog_probe", queue="media")
    current_app.send_task("events.metrics_backlog_probe", queue="events")

    text = scrape()

    assert {queue: sample(text, "gateway_queue_backlog", queue=queue) for queue in ("media", "events", "ingest")} == {
        "media": 3,
        "events": 1,
        "ingest": 0,
    }
    assert sample(text, "gateway_scrape_source_up", source="broker") == 1
    assert sample(text, "gateway_scrape_source_up", source="database") == 1


@pytest.fixture
def unreachable_broker() -> Iterator[None]:
    saved = {"broker_url": current_app.conf.broker_url, "broker_transport": current_app.conf.broker_transport}
    current_app.conf.update(broker_url="redis://:s3cret@127.0.0.1:9/0", broker_transport=None)
    yield
    current_app.conf.update(saved)


@pytest.mark.usefixtures("unreachable_broker")
def test_an_unreachable_broker_leaves_the_queue_gauges_out_and_says_so() -> None:
    text = scrape()

    assert sample(text, "gateway_scrape_source_up", source="broker") == 0
    assert sample(text, "gateway_queue_backlog", queue="media") is None
    assert sample(text, "gateway_webhook_backlog") == 0  # the database's gauges are still there
    assert "s3cret" not in text and "127.0.0.1" not in text


def test_the_oldest_waiting_delivery_gives_the_backlog_its_age(meta_app: MetaApp) -> None:
    body = (FIXTURES / "whatsapp_text.json").read_bytes()
    assert webhook_post(meta_app, body, signature_for(SECRET, body)) == 200
    Delivery.objects.update(received_at=timezone.now() - timedelta(hours=1))

    age = sample(scrape(), "gateway_webhook_backlog_oldest_seconds")

    assert age is not None and 3600 <= age < 3600 + 600


# --- /readyz's key provider --------------------------------------------------------------------------------------


@pytest.fixture
def fresh_provider() -> Iterator[None]:
    providers.root_provider.cache_clear()
    yield
    providers.root_provider.cache_clear()


@pytest.mark.usefixtures("fresh_provider")
def test_readiness_reports_the_key_provider_ok_when_it_wraps_and_unwraps() -> None:
    response = Client().get("/readyz")

    assert (response.status_code, response.json()["checks"]["key_provider"]) == (200, "ok")


@pytest.mark.usefixtures("fresh_provider")
def test_readiness_names_a_broken_key_provider_and_nothing_of_its_keys(settings: Settings) -> None:
    broken = "1:" + "k" * 20  # a root key that does not decode to 32 bytes
    settings.GATEWAY_ROOT_KEYS = broken

    response = Client().get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "broker": "ok", "key_provider": "unreachable"},
    }
    assert b"kkkk" not in response.content and b"GATEWAY_ROOT_KEYS" not in response.content


@pytest.mark.usefixtures("fresh_provider")
def test_readiness_names_a_key_provider_that_cannot_unwrap_what_it_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: providers.LocalKeyProvider, blob: bytes, *, version: int, context: bytes) -> bytes:
        raise DecryptionError("a key wrapped under root version 1 failed authentication")

    monkeypatch.setattr(providers.LocalKeyProvider, "unwrap", refuse)

    response = Client().get("/readyz")

    assert (response.status_code, response.json()["checks"]["key_provider"]) == (503, "unreachable")
