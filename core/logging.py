"""Log formatting for every process, and the scrubbing of query strings out of every log line.

Query strings carry secrets: Meta's handshake sends the verify token as ``hub.verify_token``, a client may put
an API key in ``?access_token=``, an export link carries its download ``token``. Log lines quote URLs in many
places (gunicorn's access log, Django's ``WSGIRequest`` repr in ``django.request`` records, runserver's request
line), so every value of every query parameter is replaced by ``[redacted]`` wherever a URL appears in a line,
except the few parameters in SAFE_QUERY_PARAMETERS; the parameter names stay, so a line still tells which
parameters a request had.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

REDACTED = "[redacted]"
# Values that are never secret and help reading a log; every other parameter's value is redacted.
SAFE_QUERY_PARAMETERS = frozenset({"hub.mode", "page_size"})
# name=value after a ``?`` or ``&``; a value ends where a URL ends in a log line (space, quote, bracket, #).
_QUERY_PAIR = re.compile(r"(?<=[?&])(?P<name>[^=&?#\s'\"<>]+)=(?P<value>[^&#\s'\"<>]*)")


def _redact_pair(match: re.Match[str]) -> str:
    name = match["name"]
    if name.lower() in SAFE_QUERY_PARAMETERS or not match["value"]:
        return match[0]
    return f"{name}={REDACTED}"


def query_values_redact(text: str) -> str:
    """``text`` with the value of every query parameter in it redacted (see the module docstring)."""
    if "=" not in text:
        return text
    return _QUERY_PAIR.sub(_redact_pair, text)


def query_string_redact(query_string: str) -> str:
    """A bare query string (``a=1&b=2``, as in QUERY_STRING), redacted the same way."""
    return query_values_redact(f"?{query_string}")[1:]


class QueryRedactingFilter(logging.Filter):
    """Redacts query values in a record's message, for handlers whose formatter is not ours (gunicorn's)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = query_values_redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line with a UTC timestamp; extra= fields become keys (ids only, never content).
    Every string that goes out has its query values redacted (a ``request`` extra is rendered by its repr,
    which holds the full path and query)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": query_values_redact(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = _safe_value(value)
        if record.exc_info:
            entry["exception"] = query_values_redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def _safe_value(value: object) -> object:
    if isinstance(value, bool | int | float | None):
        return value
    return query_values_redact(value if isinstance(value, str) else str(value))
