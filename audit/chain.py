"""The chain's hash: HMAC-SHA256 over the previous hash and a canonical JSON of the event's fields."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings

HASHED_FIELDS = (
    "id",
    "chain",
    "seq",
    "tenant_id",
    "occurred_at",
    "action",
    "actor_id",
    "actor_label",
    "target_type",
    "target_id",
    "ip",
    "details",
)


def canonical_bytes(fields: Mapping[str, Any]) -> bytes:
    payload = {name: _plain(fields[name]) for name in HASHED_FIELDS}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    message = prev_hash.encode() + b"\n" + canonical_bytes(fields)
    return hmac.new(settings.GATEWAY_AUDIT_KEY.encode(), message, hashlib.sha256).hexdigest()


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | bool | dict | list):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
