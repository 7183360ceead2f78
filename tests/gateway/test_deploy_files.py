"""The deployment files together: every queue has its one worker group in each of them, the image is built as the
processes expect, its health check probes the web process, and kustomize builds the Kubernetes base."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from django.conf import settings

from tests.gateway.deploy_support import (
    DEPLOY,
    compose_services,
    compose_worker_queues,
    kubectl_kustomize,
    kubernetes_documents,
    kubernetes_worker_queues,
    procfile_worker_queues,
)
from tests.gateway.support import ROOT, run_python
from tests.local_http import LocalServer, Reply

WORKER_GROUPS: dict[str, Callable[[], dict[str, frozenset[str]]]] = {
    "compose": compose_worker_queues,
    "kubernetes": kubernetes_worker_queues,
    "procfile": procfile_worker_queues,
}


@pytest.mark.parametrize("where", WORKER_GROUPS)
def test_every_queue_is_consumed_by_exactly_one_worker_group(where: str) -> None:
    groups = WORKER_GROUPS[where]()
    consumed = Counter(queue for queues in groups.values() for queue in queues)

    assert groups
    assert set(consumed) == set(settings.CELERY_QUEUE_NAMES)
    assert set(consumed.values()) == {1}


def test_compose_and_kubernetes_have_the_same_worker_groups() -> None:
    assert compose_worker_queues() == kubernetes_worker_queues()


def test_compose_and_kubernetes_run_the_processes_of_the_procfile() -> None:
    procfile = dict(line.split(": ", 1) for line in (DEPLOY / "Procfile").read_text().splitlines() if ": " in line)
    deployments = {doc["metadata"]["name"]: doc for doc in kubernetes_documents() if doc["kind"] == "Deployment"}
    (web,) = deployments["web"]["spec"]["template"]["spec"]["containers"]

    assert " ".join(compose_services()["web"]["command"]) == procfile["web"]
    assert " ".join(web["command"]) == procfile["web"]
    assert "migrate --noinput" in procfile["release"]


def test_the_image_is_slim_unprivileged_and_checks_its_health() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM ")]

    assert stages and all(stage.startswith("python:3.11-slim") for stage in stages)
    assert "USER 10001:10001" in dockerfile
    assert "['project']['dependencies']" in dockerfile and "[dev]" not in dockerfile
    assert "manage.py collectstatic --noinput" in dockerfile
    assert "libpango-1.0-0" in dockerfile and "libpangoft2-1.0-0" in dockerfile
    healthcheck_line = next(line for line in dockerfile.splitlines() if line.startswith("HEALTHCHECK "))
    assert healthcheck_line.endswith('CMD ["python", "/app/deploy/healthcheck.py"]')


def test_the_image_leaves_out_local_state_and_secrets() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().splitlines())

    assert {".git", ".venv", "var", "*.env", "tests"} <= ignored


@pytest.fixture
def web() -> Iterator[LocalServer]:
    server = LocalServer().start()
    yield server
    server.stop()


def healthcheck(port: int | str, allowed_hosts: str) -> int:
    env = {"PATH": os.environ.get("PATH", ""), "GATEWAY_HEALTHCHECK_PORT": str(port)}
    env["DJANGO_ALLOWED_HOSTS"] = allowed_hosts
    return run_python(env, str(DEPLOY / "healthcheck.py")).returncode


def port_of(server: LocalServer) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


def test_the_health_check_asks_healthz_as_an_allowed_host(web: LocalServer) -> None:
    web.route("/healthz", Reply(200, b"ok"))

    assert healthcheck(port_of(web), ".example.com,localhost") == 0
    assert [(seen.path, seen.headers["host"]) for seen in web.requests] == [("/healthz", "example.com")]


def test_the_health_check_fails_on_any_other_answer(web: LocalServer) -> None:
    web.route("/healthz", Reply(400, b"Bad Request"))

    assert healthcheck(port_of(web), "gateway.example.com") == 1


def test_the_health_check_fails_when_nothing_listens(web: LocalServer) -> None:
    port = port_of(web)
    web.stop()

    assert healthcheck(port, "gateway.example.com") == 1


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed: kustomize cannot be run")
def test_kustomize_builds_the_base_with_every_manifest_and_the_image() -> None:
    built = kubectl_kustomize(shutil.which("kubectl") or "kubectl")
    source = kubernetes_documents()
    images = {
        container["image"]
        for document in built
        if document["kind"] in {"Deployment", "Job"}
        for container in [
            *document["spec"]["template"]["spec"].get("initContainers", []),
            *document["spec"]["template"]["spec"]["containers"],
        ]
    }

    assert sorted((doc["kind"], doc["metadata"]["name"]) for doc in built) == sorted(
        (doc["kind"], doc["metadata"]["name"]) for doc in source
    )
    assert images == {"registry.example.com/meta-gateway:0.1.0"}
    assert all(doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "meta-gateway" for doc in built)
