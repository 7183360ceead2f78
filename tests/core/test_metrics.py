"""core.metrics: the counters' vocabulary, and multiprocess mode, where one scrape sums every process sharing
PROMETHEUS_MULTIPROC_DIR (through /metrics, and through a worker host's ``manage.py metrics_serve``)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from core.metrics import metric_increment, metric_observe, metric_value

ROOT = Path(__file__).resolve().parents[2]
INCREMENT = (
    "from core.metrics import metric_increment; "
    "metric_increment('gateway_sends', platform='whatsapp', outcome='accepted'); "
    "metric_increment('gateway_purged', {amount}, kind='content')"
)


def sample(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None


def test_a_counter_adds_per_series_and_a_partial_label_set_sums_the_matching_ones() -> None:
    accepted = metric_value("gateway_sends", platform="instagram", outcome="accepted")
    failed = metric_value("gateway_sends", platform="instagram", outcome="failed")
    everything = metric_value("gateway_sends", platform="instagram")

    metric_increment("gateway_sends", platform="instagram", outcome="accepted")
    metric_increment("gateway_sends", 2, platform="instagram", outcome="failed")

    assert metric_value("gateway_sends", platform="instagram", outcome="accepted") == accepted + 1
    assert metric_value("gateway_sends", platform="instagram", outcome="failed") == failed + 2
    assert metric_value("gateway_sends", platform="instagram") == everything + 3


def test_unknown_names_wrong_kinds_and_unknown_labels_are_refused() -> None:
    with pytest.raises(KeyError):
        metric_increment("gateway_no_such_metric")
    with pytest.raises(TypeError):
        metric_increment("gateway_webhook_ack_seconds", platform="meta")
    with pytest.raises(TypeError):
        metric_observe("gateway_sends", 1.0, platform="meta", outcome="accepted")
    with pytest.raises(ValueError, match="label"):
        metric_increment("gateway_sends", platform="whatsapp", outcome="accepted", tenant="t")


@pytest.fixture
def multiproc_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    return folder


def counting_process(folder: Path, amount: int) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    command = [sys.executable, "-c", INCREMENT.format(amount=amount)]
    subprocess.run(command, cwd=ROOT, env=env, check=True, timeout=60)


@pytest.mark.django_db
def test_metrics_sums_the_processes_sharing_the_multiprocess_folder(multiproc_dir: Path) -> None:
    counting_process(multiproc_dir, 3)
    counting_process(multiproc_dir, 4)

    text = Client().get("/metrics").content.decode()

    assert sample(text, "gateway_sends_total", platform="whatsapp", outcome="accepted") == 2
    assert sample(text, "gateway_purged_total", kind="content") == 7
    assert sample(text, "gateway_webhook_backlog") == 0  # the gauges read now are there too


def test_metrics_serve_refuses_to_start_without_a_multiprocess_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)

    with pytest.raises(CommandError, match="PROMETHEUS_MULTIPROC_DIR is not set"):
        call_command("metrics_serve", "--port", "0")


def test_metrics_serve_serves_the_workers_counters_of_this_host(multiproc_dir: Path) -> None:
    counting_process(multiproc_dir, 5)
    counting_process(multiproc_dir, 1)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir)}
    command = [sys.executable, "manage.py", "metrics_serve", "--port", "0"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        first_line = server.stdout.readline()
        assert first_line.startswith("serving metrics on 127.0.0.1:"), first_line
        url = f"http://{first_line.split()[-1]}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert sample(text, "gateway_sends_total", platform="whatsapp", outcome="accepted") == 2
    assert sample(text, "gateway_purged_total", kind="content") == 6
    assert "gateway_queue_backlog" not in text  # the web's /metrics reads the backlogs, once
