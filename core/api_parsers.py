"""The REST API's request parser (settings.REST_FRAMEWORK). DRF imports it while ``rest_framework.views``
loads, so it must not import DRF views (core.api_errors does)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from core.jsondepth import JSON_MAX_DEPTH, JsonTooDeepError, json_depth_check


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, refusing documents nested deeper than core.jsondepth.JSON_MAX_DEPTH with a 400 (the
    decoder would raise a RecursionError, a 500, well within the body size limit)."""

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        try:
            document = super().parse(stream, media_type, parser_context)
            json_depth_check(document)
        except (RecursionError, JsonTooDeepError):
            raise ParseError(f"JSON parse error - {JsonTooDeepError(JSON_MAX_DEPTH)}") from None
        return document
