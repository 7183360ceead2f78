"""Reading JSON at the boundary, shared by the adapters: strict decoding and typed readers that raise
``PayloadError`` with the path of the value (``entry[0].changes[1].messages[2].timestamp``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeAlias, TypeVar

from core.jsondepth import json_decode_bounded

Json: TypeAlias = Any  # any value json.loads can return
JsonObject: TypeAlias = dict[str, Any]

T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECONDS_FROM = 10**11  # Messenger sends ms; a smaller number can only be seconds (COURIER)
_MAX_TIME_DIGITS = 20


class PayloadError(Exception):
    """A value is missing or has the wrong JSON type at ``path``; adapters turn it into a ParseProblem."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


_JSON_NAMES: dict[type, str] = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer"}


def json_type(value: Json) -> str:
    return "null" if value is None else _JSON_NAMES.get(type(value), "number")


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def decode_json(text: str | bytes) -> Json:
    """Strict JSON: UTF-8 only, no NaN/Infinity, nested no deeper than core.jsondepth allows; raises PayloadError
    at path ``body``."""
    try:
        decoded = text.decode() if isinstance(text, bytes) else text
        return json_decode_bounded(decoded, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise PayloadError("body", "not UTF-8") from None
    except (ValueError, RecursionError) as error:
        raise PayloadError("body", f"invalid JSON: {str(error)[:120]}") from None


def as_object(value: Json, path: str) -> JsonObject:
    if not isinstance(value, dict):
        raise PayloadError(path, f"expected object, got {json_type(value)}")
    return value


def get(obj: JsonObject, key: str, path: str, expected: type[T]) -> T | None:
    """The value at ``key`` if present and not null; a wrong JSON type raises (bool is never a number)."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
        raise PayloadError(
            join(path, key), f"expected {_JSON_NAMES.get(expected, expected.__name__)}, got {json_type(value)}"
        )
    return value


def need(obj: JsonObject, key: str, path: str, expected: type[T]) -> T:
    value = get(obj, key, path, expected)
    if value is None:
        raise PayloadError(join(path, key), "missing")
    return value


def get_id(obj: JsonObject, key: str, path: str) -> str | None:
    """Ids are opaque strings; a JSON integer (e.g. Messenger ``app_id``) is kept as its decimal text."""
    value = obj.get(key)
    if value is None or (isinstance(value, str) and value):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise PayloadError(join(path, key), f"expected a non-empty id, got {json_type(value)}")


def need_id(obj: JsonObject, key: str, path: str) -> str:
    value = get_id(obj, key, path)
    if value is None:
        raise PayloadError(join(path, key), "missing")
    return value


def get_number(obj: JsonObject, key: str, path: str) -> Decimal | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PayloadError(join(path, key), f"expected a number, got {json_type(value)}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise PayloadError(join(path, key), "expected a number") from None
    if not number.is_finite():
        raise PayloadError(join(path, key), "expected a finite number")
    return number


def need_number(obj: JsonObject, key: str, path: str) -> Decimal:
    value = get_number(obj, key, path)
    if value is None:
        raise PayloadError(join(path, key), "missing")
    return value


def array(obj: JsonObject, key: str, path: str) -> list[tuple[str, Json]]:
    """``(path, element)`` pairs of an optional array."""
    values = get(obj, key, path, list)
    return [(join(join(path, key), index), value) for index, value in enumerate(values or ())]


def read_time(obj: JsonObject, key: str, path: str, *, unit: Literal["s", "ms"]) -> datetime | None:
    """Unix time as a JSON integer or a string of digits; with ``unit="ms"`` small values are seconds."""
    value = obj.get(key)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= _MAX_TIME_DIGITS:
        value = int(value)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(join(path, key), f"expected Unix time, got {json_type(value)}")
    in_milliseconds = unit == "ms" and abs(value) >= _MILLISECONDS_FROM
    try:
        return _EPOCH + (timedelta(milliseconds=value) if in_milliseconds else timedelta(seconds=value))
    except OverflowError:
        raise PayloadError(join(path, key), "Unix time out of range") from None


def need_time(obj: JsonObject, key: str, path: str, *, unit: Literal["s", "ms"]) -> datetime:
    value = read_time(obj, key, path, unit=unit)
    if value is None:
        raise PayloadError(join(path, key), "missing")
    return value
