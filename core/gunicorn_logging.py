"""Gunicorn's logger with query values redacted (core.logging): set by deploy/gunicorn.conf.py."""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from core.logging import REDACTED, QueryRedactingFilter, query_string_redact, query_values_redact

_BARE_QUERY_ATOMS = frozenset({"q", "{query_string}e"})
_SECRET_HEADER_ATOMS = frozenset({"{authorization}i", "{cookie}i", "{x-hub-signature-256}i", "{set-cookie}o"})


class GunicornLogger(Logger):  # type: ignore[misc]
    """Access log atoms (``%(r)s``, ``%(q)s``, ``%(f)s``, ``{…}e`` and headers) and error log lines (gunicorn
    quotes a request's URI when it fails) never hold a query value, an Authorization header or a cookie."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(existing, QueryRedactingFilter) for existing in log.filters):
                log.addFilter(QueryRedactingFilter())

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        return {name: _redacted_atom(name, value) for name, value in atoms.items()}


def _redacted_atom(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if name in _SECRET_HEADER_ATOMS:
        return REDACTED
    if name in _BARE_QUERY_ATOMS:
        return query_string_redact(value)
    return query_values_redact(value)
