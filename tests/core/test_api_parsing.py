"""Nesting bounds for JSON from outside: the shared decoder and the API's parser (every endpoint's)."""

from __future__ import annotations

import io
import json

import pytest
from rest_framework.exceptions import ParseError
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from core.api_errors import api_exception_handler
from core.api_parsers import BoundedJSONParser
from core.jsondepth import JSON_MAX_DEPTH, JsonTooDeepError, json_decode_bounded
from core.redis import RedisUnavailableError
from tests.problems import problem


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_documents_up_to_the_limit_decode_and_one_level_more_is_refused():
    assert json.dumps(json_decode_bounded(nested(JSON_MAX_DEPTH))) == nested(JSON_MAX_DEPTH).replace("][", "], [")
    assert json_decode_bounded('{"a": {"b": [1, "x"]}, "c": null}') == {"a": {"b": [1, "x"]}, "c": None}
    assert json_decode_bounded("7") == 7
    with pytest.raises(JsonTooDeepError, match="nested deeper than 64 levels"):
        json_decode_bounded(nested(JSON_MAX_DEPTH + 1))


@pytest.mark.parametrize("raw", [nested(100_000), '{"a":' * 100_000 + "1" + "}" * 100_000])
def test_a_document_past_the_decoders_recursion_limit_is_refused_not_a_recursion_error(raw: str):
    with pytest.raises(JsonTooDeepError):
        json_decode_bounded(raw.encode())


def test_every_api_view_parses_with_the_bounded_parser():
    assert [*api_settings.DEFAULT_PARSER_CLASSES, *APIView.parser_classes] == [BoundedJSONParser] * 2


@pytest.mark.parametrize("depth", [JSON_MAX_DEPTH + 1, 100_000])
def test_the_api_parser_refuses_deep_documents_with_a_parse_error(depth: int):
    with pytest.raises(ParseError, match="nested deeper than 64 levels"):
        BoundedJSONParser().parse(io.BytesIO(nested(depth).encode()))


def test_the_api_parser_still_parses_and_still_refuses_nan():
    assert BoundedJSONParser().parse(io.BytesIO(b'{"a": [1, {"b": 2}]}')) == {"a": [1, {"b": 2}]}
    with pytest.raises(ParseError):
        BoundedJSONParser().parse(io.BytesIO(b'{"a": NaN}'))


def test_redis_out_of_reach_in_an_api_view_is_a_503_in_the_api_shape_with_retry_after():
    response = api_exception_handler(RedisUnavailableError(), {})

    assert response is not None
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.data == problem(
        503, "service_unavailable", "The service is temporarily unavailable. Try again shortly."
    )
