"""The JSON body of a Graph request."""

from __future__ import annotations

import json
from typing import Any


def parse_json_object(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None
