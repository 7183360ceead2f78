"""The deployment files (deploy/compose.yaml, deploy/kubernetes/, deploy/Procfile) read as data, for the tests."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.gateway.support import ROOT, run_python

DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
KUBERNETES = DEPLOY / "kubernetes"
PROCFILE = DEPLOY / "Procfile"
# Compose's interpolation, as the file uses it: ${NAME:-default}, and $$ for a literal $.
DEFAULTED_VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*):-([^}]*)\}")


def interpolate(text: str) -> str:
    """The file as `docker compose config` sees it with none of its variables set."""
    return DEFAULTED_VARIABLE.sub(lambda match: match.group(2), text).replace("$$", "$")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(interpolate(COMPOSE.read_text()))
    return loaded


def compose_services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose()["services"]
    return services


def kubernetes_documents() -> list[dict[str, Any]]:
    documents = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            documents += [document for document in yaml.safe_load_all(path.read_text()) if document]
    return documents


def of_kind(documents: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {document["metadata"]["name"]: document for document in documents if document["kind"] == kind}


def pod_containers(deployment: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = deployment["spec"]["template"]["spec"]
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def queues_of(command: list[str]) -> frozenset[str] | None:
    """The queues a ``celery worker`` command consumes; None for any other command."""
    if "celery" not in command[:1] or "worker" not in command:
        return None
    return frozenset(command[command.index("--queues") + 1].split(","))


def compose_worker_queues() -> dict[str, frozenset[str]]:
    services = compose_services()
    return {name: queues for name, service in services.items() if (queues := queues_of(service.get("command", [""])))}


def kubernetes_worker_queues() -> dict[str, frozenset[str]]:
    found = {}
    for name, deployment in of_kind(kubernetes_documents(), "Deployment").items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            if queues := queues_of(container["command"]):
                found[name] = queues
    return found


def procfile_worker_queues() -> dict[str, frozenset[str]]:
    found = {}
    for line in PROCFILE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, command = line.partition(":")
            if queues := queues_of(command.split()):
                found[name] = queues
    return found


def secret_files(directory: Path, uid: int) -> subprocess.CompletedProcess[str]:
    """deploy/compose_secrets.py writing the compose deployment's secrets under ``directory``, owned by ``uid``."""
    folders = {name: directory / name for name in ("gateway", "postgres", "redis")}
    for folder in folders.values():
        folder.mkdir(exist_ok=True)
    arguments = [f"--{name}-dir={folder}" for name, folder in folders.items()]
    arguments += [f"--{name}-uid={uid}" for name in folders]
    env = {"PATH": os.environ.get("PATH", ""), "GATEWAY_VAR_DIR": str(directory / "var")}
    return run_python(env, str(DEPLOY / "compose_secrets.py"), *arguments)


def deploy_check(
    environment: dict[str, str], var_dir: Path, *, fail_level: str = "WARNING"
) -> subprocess.CompletedProcess[str]:
    """``manage.py check --deploy --fail-level <level>`` with ``environment`` as the gateway's whole configuration."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GATEWAY_", "DJANGO_"))}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(environment)
    env["GATEWAY_VAR_DIR"] = str(var_dir)
    return run_python(env, "manage.py", "check", "--deploy", "--fail-level", fail_level)


def kubectl_kustomize(kubectl: str) -> list[dict[str, Any]]:
    built = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES)], capture_output=True, text=True, timeout=120, check=False
    )
    assert built.returncode == 0, built.stderr
    return [document for document in yaml.safe_load_all(built.stdout) if document]
