"""The files the two data walks cross: webhook body → stored message, and API send → Graph call.

Runs on the embedded default in a throwaway var directory (no PostgreSQL or Redis needed): provisions the
demo tenant, then walks each path twice through the project's public doors only (the webhook URL, the
send API, the Celery task names), untraced first so imports and thread pools are warm, then traced. A file
counts when a function of it runs during the traced walk; module imports and tests do not count.

    python bench/walks.py            # a table of the files each walk crosses
    python bench/walks.py --list     # and the files themselves
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("accounts", "audit", "core", "encryption", "events", "gateway", "messaging", "policies", "webhooks")
FIXTURE = ROOT / "tests" / "fixtures" / "meta" / "whatsapp_text.json"
UNREACHABLE_GRAPH = "http://127.0.0.1:9"  # the discard port: the Graph call is made and refused at once


class Tracer:
    """Records the project files whose functions run while recording is on, in every thread."""

    def __init__(self) -> None:
        self.recording = False
        self.files: set[str] = set()
        self._roots = tuple(str(ROOT / package) + os.sep for package in PACKAGES)

    def __call__(self, frame: FrameType, event: str, _: object) -> None:
        if not self.recording or event != "call" or frame.f_code.co_name == "<module>":
            return
        filename = frame.f_code.co_filename
        if filename.startswith(self._roots) and f"{os.sep}migrations{os.sep}" not in filename:
            self.files.add(str(Path(filename).relative_to(ROOT)))

    @contextmanager
    def walk(self) -> Iterator[set[str]]:
        self.files = set()
        self.recording = True
        try:
            yield self.files
        finally:
            self.recording = False


def _environment(var_dir: str) -> None:
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    os.environ["GATEWAY_VAR_DIR"] = var_dir
    os.environ["GATEWAY_GRAPH_BASE_URL"] = UNREACHABLE_GRAPH
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
    sys.path.insert(0, str(ROOT))


def _provision() -> tuple[dict[str, Any], str]:
    from io import StringIO

    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    out = StringIO()
    call_command("bootstrap_demo", url="http://testserver", stdout=out)
    key = re.search(r"Bearer ([^\s\"']+)", out.getvalue())
    if key is None:
        raise SystemExit("bootstrap_demo printed no API key")
    channels = json.loads((Path(settings.VAR_DIR) / "simulator.json").read_text())["channels"]
    whatsapp = next(channel for channel in channels if channel["platform"] == "whatsapp")
    return whatsapp, key.group(1)


def _signed_webhook(whatsapp: dict[str, Any], serial: int) -> tuple[str, bytes, str]:
    document = json.loads(FIXTURE.read_text())
    value = document["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = whatsapp["provider_id"]
    value["messages"][0]["id"] = f"wamid.walk-{serial}-{time.time_ns()}"
    value["messages"][0]["timestamp"] = str(int(time.time()))
    body = json.dumps(document).encode()
    signature = hmac.new(whatsapp["app_secret"].encode(), body, hashlib.sha256).hexdigest()
    path = "/" + whatsapp["webhook_url"].split("://", 1)[1].split("/", 1)[1]
    return path, body, f"sha256={signature}"


def _task(name: str) -> Callable[..., Any]:
    from gateway.celery import app

    return app.tasks[name].apply


def _tasks_load() -> None:
    from gateway.celery import app

    app.loader.import_default_modules()


def _inbound_walk(whatsapp: dict[str, Any], serial: int) -> None:
    from django.apps import apps
    from django.test import Client

    messages = apps.get_model("messaging", "Message")._default_manager
    stored_before = messages.count()
    path, body, signature = _signed_webhook(whatsapp, serial)
    answer = Client().post(path, data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=signature)
    if answer.status_code != HTTPStatus.OK:
        raise SystemExit(f"the webhook was answered {answer.status_code}")
    delivery = apps.get_model("webhooks", "Delivery")._default_manager.latest("received_at")
    _task("ingest.process_delivery")(args=[str(delivery.pk)]).get()
    if messages.count() != stored_before + 1:
        raise SystemExit("the webhook's message was not stored")


def _send_walk(whatsapp_channel_id: str, key: str, serial: int) -> None:
    from django.test import Client

    request = {
        "channel": whatsapp_channel_id,
        "to": "+16505551234",
        "type": "template",
        "template": {"name": "hello_world", "language": "en_US"},
    }
    answer = Client().post(
        "/api/v1/messages/",
        data=json.dumps(request),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        HTTP_IDEMPOTENCY_KEY=f"walk-{serial}",
    )
    if answer.status_code not in (HTTPStatus.CREATED, HTTPStatus.ACCEPTED):
        raise SystemExit(f"the send was answered {answer.status_code}: {answer.content[:300]!r}")
    _task("outbound.send")(args=[answer.json()["id"]]).get()


def _channel_id(provider_id: str) -> str:
    from django.apps import apps

    return str(apps.get_model("messaging", "Channel")._default_manager.get(provider_id=provider_id).pk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="print each walk's files too")
    options = parser.parse_args()
    tracer = Tracer()
    with tempfile.TemporaryDirectory(prefix="walks-") as var_dir:
        _environment(var_dir)
        import django

        django.setup()
        whatsapp, key = _provision()
        channel_id = _channel_id(whatsapp["provider_id"])
        _tasks_load()
        threading.setprofile(tracer)
        sys.setprofile(tracer)
        walks: dict[str, Callable[[int], None]] = {
            "webhook body → stored message": lambda serial: _inbound_walk(whatsapp, serial),
            "POST /api/v1/messages/ → Graph call": lambda serial: _send_walk(channel_id, key, serial),
        }
        for name, walk in walks.items():
            walk(0)
            with tracer.walk() as files:
                walk(1)
            in_messaging = sum(file.startswith(("messaging", "webhooks")) for file in files)
            print(f"{len(files):3d} files ({in_messaging:2d} in messaging/ and webhooks/)  {name}")
            if options.list:
                print("".join(f"      {file}\n" for file in sorted(files)))
        sys.setprofile(None)


if __name__ == "__main__":
    main()
