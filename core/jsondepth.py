"""JSON from outside, with a bound on nesting: a body of 100,000 ``[`` fits in any size limit, and the decoder
(or any code that walks the result recursively afterwards) would otherwise fail with a RecursionError."""

from __future__ import annotations

import json
from typing import Any

# Meta's webhook bodies nest about 10 levels and the API's requests fewer; anything far deeper is refused.
JSON_MAX_DEPTH = 64


class JsonTooDeepError(ValueError):
    """The document nests deeper than the limit. A ValueError, as json's own decode errors are."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"nested deeper than {max_depth} levels")


def json_decode_bounded(text: str | bytes, *, max_depth: int = JSON_MAX_DEPTH, **options: Any) -> Any:
    """``json.loads(text, **options)``, refusing (JsonTooDeepError) documents nested deeper than ``max_depth``."""
    try:
        document = json.loads(text, **options)
    except RecursionError:
        raise JsonTooDeepError(max_depth) from None
    json_depth_check(document, max_depth=max_depth)
    return document


def json_depth_check(document: object, *, max_depth: int = JSON_MAX_DEPTH) -> None:
    """Raise JsonTooDeepError if a decoded document has containers nested deeper than ``max_depth`` (walked
    without recursion, so any depth can be checked)."""
    if not isinstance(document, dict | list):
        return
    waiting: list[tuple[dict[Any, Any] | list[Any], int]] = [(document, 1)]
    while waiting:
        container, depth = waiting.pop()
        if depth > max_depth:
            raise JsonTooDeepError(max_depth)
        children = container.values() if isinstance(container, dict) else container
        waiting.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
