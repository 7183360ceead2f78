"""deploy/kubernetes/, read as data: a Deployment per process with probes and resources, exactly one beat,
disruption budgets, autoscaling (CPU for web, queue depth for the workers) and the production checks passing."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings

from gateway.env import new_root_key_entry, new_signing_key
from tests.gateway.deploy_support import (
    KUBERNETES,
    deploy_check,
    kubernetes_documents,
    kubernetes_worker_queues,
    of_kind,
    pod_containers,
)

WORKERS = ("worker-ingest", "worker-outbound", "worker-events", "worker-maintenance")
SECRET_MOUNT = "/run/secrets/gateway"


def deployments() -> dict[str, dict[str, Any]]:
    return of_kind(kubernetes_documents(), "Deployment")


def pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    return labels


def selects(selector: dict[str, Any], deployment: dict[str, Any]) -> bool:
    wanted: dict[str, str] = selector["matchLabels"]
    return wanted.items() <= pod_labels(deployment).items()


def test_one_deployment_per_process_and_a_migrate_job() -> None:
    documents = kubernetes_documents()

    assert set(deployments()) == {"web", "beat", *WORKERS}
    assert set(of_kind(documents, "Job")) == {"migrate"}
    assert of_kind(documents, "Job")["migrate"]["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "python",
        "manage.py",
        "migrate",
        "--noinput",
    ]


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    manifests = {path.name for path in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}

    assert sorted(kustomization["resources"]) == sorted(manifests)
    assert "namespace" not in kustomization
    assert all("namespace" not in document["metadata"] for document in kubernetes_documents())


def test_secrets_are_referenced_never_defined() -> None:
    documents = kubernetes_documents()

    assert "Secret" not in {document["kind"] for document in documents}
    for name, deployment in deployments().items():
        volumes = {volume["name"]: volume for volume in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes["secrets"]["secret"]["secretName"] == "gateway-secrets", name


@pytest.mark.parametrize("name", ["web", "beat", *WORKERS])
def test_every_container_has_resources_and_runs_locked_down(name: str) -> None:
    deployment = deployments()[name]
    pod = deployment["spec"]["template"]["spec"]

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    for container in pod_containers(deployment):
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), container["name"]
        assert {"cpu", "memory"} <= set(container["resources"]["limits"]), container["name"]
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
        assert {"configMapRef": {"name": "gateway-config"}} in container["envFrom"]
        assert {"name": "secrets", "mountPath": SECRET_MOUNT, "readOnly": True} in container["volumeMounts"]
    assert pod["initContainers"][0]["command"] == ["python", "manage.py", "migrate", "--check"]


@pytest.mark.parametrize("name", ["web", "beat", *WORKERS])
def test_every_deployment_has_a_liveness_and_a_startup_probe(name: str) -> None:
    (container,) = deployments()[name]["spec"]["template"]["spec"]["containers"]

    assert "livenessProbe" in container
    assert "startupProbe" in container


def test_web_is_ready_on_readyz_and_alive_on_healthz_with_an_allowed_host() -> None:
    (web,) = deployments()["web"]["spec"]["template"]["spec"]["containers"]
    config = of_kind(kubernetes_documents(), "ConfigMap")["gateway-config"]["data"]
    allowed = config["DJANGO_ALLOWED_HOSTS"].split(",")

    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["startupProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert web[probe]["httpGet"]["port"] == "http"
        assert web[probe]["httpGet"]["httpHeaders"] == [{"name": "Host", "value": allowed[0]}]


@pytest.mark.parametrize("name", WORKERS)
def test_workers_are_alive_when_their_own_node_answers_a_ping(name: str) -> None:
    (worker,) = deployments()[name]["spec"]["template"]["spec"]["containers"]

    assert 'inspect ping --destination "celery@$HOSTNAME"' in worker["livenessProbe"]["exec"]["command"][2]
    assert worker["livenessProbe"]["timeoutSeconds"] >= 10


@pytest.mark.parametrize("name", WORKERS)
def test_a_stopping_worker_has_time_to_finish_its_running_tasks(name: str) -> None:
    grace = deployments()[name]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]

    assert grace > settings.CELERY_TASK_TIME_LIMIT


def test_exactly_one_beat_replaced_by_recreate_and_never_scaled() -> None:
    documents = kubernetes_documents()
    beat = deployments()["beat"]
    scaled = {
        document["spec"]["scaleTargetRef"]["name"]
        for document in documents
        if "scaleTargetRef" in document.get("spec", {})
    }

    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert "beat" not in scaled
    assert not any(
        selects(budget["spec"]["selector"], beat) for budget in of_kind(documents, "PodDisruptionBudget").values()
    )


@pytest.mark.parametrize("name", ["web", *WORKERS])
def test_a_disruption_budget_covers_every_deployment_but_beat(name: str) -> None:
    budgets = of_kind(kubernetes_documents(), "PodDisruptionBudget").values()

    assert [budget for budget in budgets if selects(budget["spec"]["selector"], deployments()[name])]


def test_the_services_select_the_web_pods() -> None:
    service = of_kind(kubernetes_documents(), "Service")["web"]
    ingress = of_kind(kubernetes_documents(), "Ingress")["gateway"]

    assert selects({"matchLabels": service["spec"]["selector"]}, deployments()["web"])
    assert ingress["spec"]["tls"][0]["secretName"] == "gateway-tls"
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "web"


def test_web_scales_on_cpu() -> None:
    autoscaler = of_kind(kubernetes_documents(), "HorizontalPodAutoscaler")["web"]

    assert autoscaler["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    assert autoscaler["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert autoscaler["spec"]["minReplicas"] >= 2


@pytest.mark.parametrize("name", WORKERS)
def test_each_worker_scales_on_the_depth_of_the_queues_it_consumes(name: str) -> None:
    scaled_objects = of_kind(kubernetes_documents(), "ScaledObject")
    (scaler,) = [found for found in scaled_objects.values() if found["spec"]["scaleTargetRef"]["name"] == name]
    triggers = scaler["spec"]["triggers"]

    assert {trigger["type"] for trigger in triggers} == {"redis"}
    assert {trigger["metadata"]["listName"] for trigger in triggers} == kubernetes_worker_queues()[name]
    assert kubernetes_worker_queues()[name] <= set(settings.CELERY_QUEUE_NAMES)
    assert all(int(trigger["metadata"]["listLength"]) > 0 for trigger in triggers)
    assert {trigger["authenticationRef"]["name"] for trigger in triggers} == set(
        of_kind(kubernetes_documents(), "TriggerAuthentication")
    )
    assert scaler["spec"]["minReplicaCount"] >= 1


def test_the_kubernetes_environment_passes_the_production_checks(tmp_path: Path) -> None:
    config = of_kind(kubernetes_documents(), "ConfigMap")["gateway-config"]["data"]
    files = {
        "django_secret_key": secrets.token_urlsafe(64),
        "gateway_root_keys": new_root_key_entry(1),
        "gateway_audit_key": secrets.token_urlsafe(64),
        "gateway_api_key_pepper": secrets.token_urlsafe(64),
        "gateway_audit_signing_key": new_signing_key(),
        "database_url": "postgres://gateway:password@db.internal:5432/gateway?sslmode=verify-full",
        "redis_url": "rediss://:password@redis.internal:6379/0",
    }
    for name, value in files.items():
        (tmp_path / name).write_text(value)
    environment = {key: value.replace(SECRET_MOUNT, str(tmp_path)) for key, value in config.items()}

    result = deploy_check(environment, tmp_path / "var")

    assert {value.removeprefix(SECRET_MOUNT + "/") for key, value in config.items() if key.endswith("_FILE")} == set(
        files
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
