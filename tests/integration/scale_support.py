"""Machinery for the scale-out run: a real ``celery beat`` process, the signed webhooks and API sends the load is
made of (plain HTTP to the web processes, as Meta and a client reach them), and what the processes' logs say about
the ticks beat published and the tasks the workers ran."""

from __future__ import annotations

import copy
import http.client
import json
import os
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import WorkerProcess, subprocess_database_url
from tests.live_gunicorn import LiveGunicorn
from webhooks.signature import signature_for

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "meta" / "whatsapp_text.json"
SIGNATURE_HEADER = "X-Hub-Signature-256"
SEND_PATH = "/api/v1/messages/"
# A client's patience: generous, as the machine running the processes may be busy (2 CPUs, a dozen processes).
REQUEST_TIMEOUT = 120
# What beat logs (at DEBUG) for each tick it publishes, and what a worker's task log (at INFO) says of each task
# it took from the broker and finished: the task's name and its id, which is the tick's.
BEAT_SENT = re.compile(r"(?P<task>maintenance\.[a-z_]+) sent\. id->(?P<id>[0-9a-f-]{36})")
TASK_RECEIVED = re.compile(r"Task (?P<task>[a-z_.]+)\[(?P<id>[0-9a-f-]{36})\] received")
TASK_FINISHED = re.compile(r"Task (?P<task>[a-z_.]+)\[(?P<id>[0-9a-f-]{36})\] (?:succeeded|raised|retry)")


# --- beat ----------------------------------------------------------------------------------------------------


class BeatProcess(WorkerProcess):
    """Beat, whose log can still be read once it has stopped (its file is gone by then)."""

    stopped_log: str | None = None

    def log(self) -> str:
        return self.stopped_log if self.stopped_log is not None else super().log()


@contextmanager
def beat_process(env: dict[str, str]) -> Iterator[BeatProcess]:
    """``celery beat`` against this test's database and broker, with its schedule file in a fresh folder (so every
    entry starts from now), logging each tick it publishes with the task's id; stopped afterwards, its log written
    to this test's stderr."""
    environment = {
        **os.environ,
        **env,
        "DATABASE_URL": subprocess_database_url(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "GATEWAY_TASK_LOG_LEVEL": "DEBUG",
    }
    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryFile() as log:
        command = [
            sys.executable,
            "-m",
            "celery",
            "--app",
            "gateway",
            "beat",
            "--schedule",
            str(Path(folder) / "celerybeat-schedule"),
            "--loglevel",
            "DEBUG",
        ]
        process = BeatProcess(command, env=environment, log_file=log)
        try:
            yield process
        finally:
            process.terminate()
            process.wait(timeout=30)
            process.stopped_log = process.log()
            sys.stderr.write(f"--- log of beat (exit status {process.returncode}) ---\n")
            sys.stderr.write(process.stopped_log)


def beat_published(log: str) -> dict[str, str]:
    """The ticks beat published: task id -> task name. An id named twice would be one tick published twice."""
    ticks: dict[str, str] = {}
    for match in BEAT_SENT.finditer(log):
        assert match["id"] not in ticks, f"beat published the tick {match['id']} twice"
        ticks[match["id"]] = match["task"]
    return ticks


def task_runs(logs: Iterable[str], pattern: re.Pattern[str]) -> Counter[str]:
    """How many times the workers' logs say each task id was received (or finished), all workers together."""
    return Counter(match["id"] for log in logs for match in pattern.finditer(log))


# --- inbound: Meta's signed webhooks -------------------------------------------------------------------------


@dataclass(frozen=True)
class Inbound:
    """One customer message, as Meta posts it: the provider's message id and the signed body."""

    provider_message_id: str
    body: bytes
    signature: str


def inbound_webhook(*, app_secret: str, provider_id: str, message_id: str, sender: str) -> Inbound:
    """A WhatsApp text webhook (the fixture's) for the channel ``provider_id`` with a message id of its own."""
    payload: dict[str, Any] = json.loads(FIXTURE.read_text())
    value = copy.deepcopy(payload["entry"][0]["changes"][0]["value"])
    value["metadata"]["phone_number_id"] = provider_id
    value["contacts"][0]["wa_id"] = sender
    value["messages"][0].update({"id": message_id, "from": sender})
    payload["entry"][0]["changes"][0]["value"] = value
    body = json.dumps(payload).encode()
    return Inbound(provider_message_id=message_id, body=body, signature=signature_for(app_secret, body))


def webhook_post(web: LiveGunicorn, app_key: str, inbound: Inbound) -> int:
    """POST the webhook to one web process; its status."""
    connection = client_connection(web)
    try:
        connection.request(
            "POST",
            f"/webhooks/meta/{app_key}/",
            body=inbound.body,
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: inbound.signature},
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


# --- outbound: the send API ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendAnswer:
    status: int
    message_id: str | None
    is_replayed: bool
    problem: str = ""  # the rule (or code) an error answer names


def api_send(web: LiveGunicorn, api_key: str, body: dict[str, Any], idempotency_key: str | None) -> SendAnswer:
    """POST one send to one web process with the tenant's API key (and the Idempotency-Key when given)."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    connection = client_connection(web)
    try:
        connection.request("POST", SEND_PATH, body=json.dumps(body).encode(), headers=headers)
        response = connection.getresponse()
        answer = json.loads(response.read() or b"{}")
        replayed = response.getheader("Idempotent-Replayed", "") == "true"
        message_id = answer.get("id") if response.status == 202 else None
        problem = str(answer.get("rule") or answer.get("code") or "") if response.status != 202 else ""
        return SendAnswer(status=response.status, message_id=message_id, is_replayed=replayed, problem=problem)
    finally:
        connection.close()


def template_body(channel_id: str, to: str) -> dict[str, Any]:
    """A WhatsApp template send (it needs no open window) to a phone number, as a client posts it."""
    template = {"name": "order_update", "language": "en_US", "components": [{"type": "body", "parameters": []}]}
    return {"channel": channel_id, "to": to, "type": "template", "template": template}


def client_connection(web: LiveGunicorn) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", web.port, timeout=REQUEST_TIMEOUT)


def answers(web: LiveGunicorn) -> bool:
    """Whether the web process answers requests yet (it boots while its socket already takes connections)."""
    connection = client_connection(web)
    try:
        connection.request("GET", SEND_PATH)
        connection.getresponse().read()
    except OSError:
        return False
    finally:
        connection.close()
    return True
