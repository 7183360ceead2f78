"""A business's event receiver, for the demo and the event benchmark: ``POST /_sim/events`` checks each
delivery's Standard Webhooks signature and logs one line per event (its type, id and status; never content).

The simulator imports nothing of the gateway, so the check is written here from the spec: HMAC-SHA256 with the
base64 key after ``whsec_``, over ``{webhook-id}.{webhook-timestamp}.{body}``, any one ``v1,`` signature of the
header matching, the timestamp within five minutes. A bad one is answered 401, as a real receiver would, so the
gateway's retries show. The secrets come from the configuration's ``event_receiver.secrets`` (several during a
rotation) or ``POST /_sim/event-receiver``, with ``recent_kept``: how many of the last events ``GET /_sim/events``
lists (50 unless given), each with its arrival time (``received_at``, Unix seconds), so the event benchmark can
measure end-to-end latency from them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

logger = logging.getLogger("simulator.receiver")
SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 300
RECENT_KEPT = 50
RECENT_KEPT_MAX = 100_000


class ReceiverError(ValueError):
    """A receiver configuration that cannot be applied."""


@dataclass
class EventReceiver:
    """The keys it verifies with and what it saw."""

    keys: list[bytes] = field(default_factory=list)
    verified: int = 0
    rejected: int = 0
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_KEPT))

    def configure(self, secrets: Any, recent_kept: Any = None) -> None:
        if not isinstance(secrets, list) or not all(isinstance(secret, str) for secret in secrets):
            raise ReceiverError("event_receiver.secrets must be a list of whsec_ secrets")
        if recent_kept is not None and (
            not isinstance(recent_kept, int) or isinstance(recent_kept, bool) or not 1 <= recent_kept <= RECENT_KEPT_MAX
        ):
            raise ReceiverError(f"event_receiver.recent_kept must be a whole number from 1 to {RECENT_KEPT_MAX}")
        self.keys = [secret_key(secret) for secret in secrets]
        if recent_kept is not None:
            self.recent = deque(self.recent, maxlen=recent_kept)

    def public(self) -> dict[str, Any]:
        return {"verified": self.verified, "rejected": self.rejected, "recent": list(self.recent)}


RECEIVER = web.AppKey("event_receiver", EventReceiver)


def secret_key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ReceiverError("a secret is whsec_ followed by base64") from error


def signature_valid(keys: list[bytes], headers: Any, body: bytes, *, now: float) -> bool:
    """Whether one of the header's ``v1`` signatures is the HMAC of one of ``keys`` over id, timestamp and body."""
    event_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not event_id or not stamp.isdigit() or abs(now - int(stamp)) > TOLERANCE_SECONDS:
        return False
    signed = f"{event_id}.{stamp}.".encode() + body
    expected = [base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()) for key in keys]
    given = [part.encode()[3:] for part in headers.get("webhook-signature", "").split() if part.startswith("v1,")]
    return any(hmac.compare_digest(mine, theirs) for mine in expected for theirs in given)


async def events_post(request: web.Request) -> web.Response:
    receiver = request.app[RECEIVER]
    body = await request.read()
    if not signature_valid(receiver.keys, request.headers, body, now=time.time()):
        receiver.rejected += 1
        logger.warning("event rejected: the signature does not verify")
        return web.Response(status=401, text="bad signature")
    receiver.verified += 1
    summary = _summary(body)
    receiver.recent.append({**summary, "received_at": time.time()})
    logger.info("event %s %s verified%s", summary["type"], summary["id"], _status_note(summary))
    return web.Response(status=204)


async def events_get(request: web.Request) -> web.Response:
    return web.json_response(request.app[RECEIVER].public())


async def receiver_post(request: web.Request) -> web.Response:
    try:
        data = json.loads(await request.read() or b"{}")
        data = data if isinstance(data, dict) else {}
        request.app[RECEIVER].configure(data.get("secrets"), data.get("recent_kept"))
    except (ValueError, ReceiverError) as error:
        return web.json_response({"error": str(error)}, status=400)
    return web.json_response({"secrets": len(request.app[RECEIVER].keys)})


def routes_add(app: web.Application, receiver: EventReceiver) -> None:
    app[RECEIVER] = receiver
    app.router.add_post("/_sim/events", events_post)
    app.router.add_get("/_sim/events", events_get)
    app.router.add_post("/_sim/event-receiver", receiver_post)


def _summary(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError:
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    data = payload.get("data")
    data = data if isinstance(data, dict) else {}
    return {"id": str(payload.get("id", "?")), "type": str(payload.get("type", "?")), "status": data.get("status")}


def _status_note(summary: dict[str, Any]) -> str:
    return f" (status {summary['status']})" if summary.get("status") else ""
