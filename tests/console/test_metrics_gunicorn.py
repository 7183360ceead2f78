"""Through a real gunicorn with two workers and PROMETHEUS_MULTIPROC_DIR (as docs/metrics.md deploys it): /metrics
counts every webhook whichever worker answered it, and the workers' exits go through deploy/gunicorn.conf.py's
``child_exit`` without an error."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from messaging.channels import meta_app_register
from tests.live_gunicorn import LiveGunicorn, live_gunicorn
from webhooks.models import Delivery
from webhooks.signature import signature_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SECRET = "g" * 32
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta"
POSTS = 6


def request(server: LiveGunicorn, method: str, path: str, body: bytes = b"", **headers: str) -> tuple[int, bytes]:
    connection = server.connection()  # a new connection each time: any worker may take it
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    content = response.read()
    connection.close()
    return response.status, content


def accepted_in(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == "gateway_webhooks_total" and found.labels == {"platform": "meta", "outcome": "accepted"}:
                return float(found.value)
    return 0.0


def test_metrics_adds_up_the_webhooks_every_gunicorn_worker_accepted(tmp_path: Path) -> None:
    tenant = Tenant.objects.create(name="Metrics", slug="metrics")
    app = meta_app_register(tenant=tenant, name="App", app_secret=SECRET, actor=CLI_ACTOR).meta_app
    body = (FIXTURES / "whatsapp_text.json").read_bytes()
    folder = tmp_path / "prometheus"
    folder.mkdir()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature_for(SECRET, body)}

    with live_gunicorn(tmp_path / "gunicorn.log", {"PROMETHEUS_MULTIPROC_DIR": str(folder)}, workers=2) as server:
        statuses = [request(server, "POST", f"/webhooks/meta/{app.app_key}/", body, **headers)[0] for _ in range(POSTS)]
        status, content = request(server, "GET", "/metrics", Host="localhost")

    assert statuses == [200] * POSTS, server.log()[-2000:]
    assert status == 200, server.log()[-2000:]
    assert accepted_in(content.decode()) == POSTS
    assert Delivery.objects.count() == POSTS
    assert list(folder.glob("counter_*.db"))  # the counts live in the shared folder, not in a worker's memory
    assert "Traceback" not in server.log()
