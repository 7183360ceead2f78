"""Secrets in query strings never reach a log: gunicorn's access and error logs, Django's request logs, ours."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client
from gunicorn.config import Config

from accounts.actors import CLI_ACTOR
from accounts.apikeys import api_key_issue
from accounts.models import ApiScope, Tenant
from core.gunicorn_logging import GunicornLogger
from core.logging import JsonFormatter, query_string_redact, query_values_redact
from messaging.channels import RegisteredApp, meta_app_register
from tests.live_gunicorn import live_gunicorn

CHALLENGE = "1158201444"


@pytest.fixture
def registered(db: None) -> RegisteredApp:
    tenant = Tenant.objects.create(name="Logs", slug="logs")
    return meta_app_register(tenant=tenant, name="App", app_secret="l" * 32, actor=CLI_ACTOR)


@pytest.fixture
def api_key(registered: RegisteredApp) -> str:
    tenant = registered.meta_app.tenant
    assert tenant is not None
    return api_key_issue(tenant=tenant, name="logged", scopes=[ApiScope.MESSAGES_READ]).plaintext


def _handshake_query(verify_token: str) -> str:
    return urlencode({"hub.mode": "subscribe", "hub.verify_token": verify_token, "hub.challenge": CHALLENGE})


def _requests(registered: RegisteredApp, api_key: str) -> list[tuple[str, int]]:
    """(path with query, expected status): handshakes right and wrong, a key in the query string, a 404."""
    webhook = f"/webhooks/meta/{registered.meta_app.app_key}/"
    return [
        (f"{webhook}?{_handshake_query(registered.verify_token)}", 200),
        (f"{webhook}?{_handshake_query(registered.verify_token + 'x')}", 403),
        (f"/api/v1/messages/?access_token={api_key}", 401),
        (f"/no/such/page/?access_token={api_key}&token={registered.verify_token}", 404),
    ]


def _secrets(registered: RegisteredApp, api_key: str) -> list[str]:
    return [registered.verify_token, api_key, api_key[:-6], CHALLENGE]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_gunicorn_logs_no_query_secret(tmp_path: Path, registered: RegisteredApp, api_key: str):
    with live_gunicorn(tmp_path / "gunicorn.log") as server:
        for path, expected in _requests(registered, api_key):
            connection = server.connection()
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            connection.close()
            assert response.status == expected, server.log()[-2000:]
    log = server.log()

    assert [secret for secret in _secrets(registered, api_key) if secret in log] == []
    assert log.count("hub.mode=subscribe&hub.verify_token=[redacted]&hub.challenge=[redacted]") == 3  # 2 access, 1 403
    assert log.count("access_token=[redacted]") == 4
    assert '"logger": "django.request", "message": "Forbidden: /webhooks/meta/' in log


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Everything logged while the test runs, through the project's formatter, as the root handler writes it."""
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield output
    root.removeHandler(handler)


def test_django_and_project_loggers_log_no_query_secret(json_log: io.StringIO, registered: RegisteredApp, api_key: str):
    client = Client()
    for path, expected in _requests(registered, api_key):
        assert client.get(path).status_code == expected
    logging.getLogger("gateway").warning("went to %s", f"/x/?password=hunter2&code={CHALLENGE}")

    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    text = json_log.getvalue()

    assert [secret for secret in [*_secrets(registered, api_key), "hunter2"] if secret in text] == []
    forbidden = next(line for line in lines if line["message"].startswith("Forbidden"))
    assert forbidden["request"].endswith("hub.verify_token=[redacted]&hub.challenge=[redacted]'>")
    assert lines[-1]["message"] == "went to /x/?password=[redacted]&code=[redacted]"


def test_runserver_request_lines_go_through_the_redacting_formatter():
    configured: dict[str, Any] = settings.LOGGING
    server_logger = configured["loggers"]["django.server"]
    assert (server_logger["handlers"], server_logger["propagate"]) == (["stderr"], False)
    assert configured["handlers"]["stderr"]["formatter"] == "json"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "GET /a/?hub.mode=subscribe&hub.verify_token=s3cret HTTP/1.1",
            "GET /a/?hub.mode=subscribe&hub.verify_token=[redacted] HTTP/1.1",
        ),
        ("<WSGIRequest: GET '/a/?key=v&page_size=5'>", "<WSGIRequest: GET '/a/?key=[redacted]&page_size=5'>"),
        ('"https://x.example/p?signature=abc#frag"', '"https://x.example/p?signature=[redacted]#frag"'),
        ("/a/?empty=&flag", "/a/?empty=&flag"),
        ("no url, a=b here", "no url, a=b here"),
    ],
)
def test_query_values_are_redacted_except_the_safe_ones(text: str, expected: str):
    assert query_values_redact(text) == expected


def test_a_bare_query_string_is_redacted_from_its_first_parameter():
    assert query_string_redact("access_token=gw_x&hub.mode=subscribe") == "access_token=[redacted]&hub.mode=subscribe"


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_gunicorns_error_log_and_every_access_atom_are_redacted():
    config = Config()
    config.set("accesslog", "-")
    logger = GunicornLogger(config)
    captured = _Captured()
    logger.error_log.addHandler(captured)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/a/?hub.verify_token=zq1&hub.mode=subscribe",
        "PATH_INFO": "/a/",
        "QUERY_STRING": "hub.verify_token=zq1&hub.mode=subscribe",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": "https://x.example/?access_token=zq2",
    }
    response = SimpleNamespace(status="200 OK", headers=[("Set-Cookie", "sessionid=zq3")], sent=0)
    request = SimpleNamespace(headers=[("AUTHORIZATION", "Bearer zq4"), ("COOKIE", "sessionid=zq5")])

    atoms = logger.atoms(response, request, environ, timedelta(milliseconds=3))
    logger.exception("Error handling request %s", environ["RAW_URI"])
    logger.error_log.removeHandler(captured)

    assert atoms["r"] == "GET /a/?hub.verify_token=[redacted]&hub.mode=subscribe HTTP/1.1"
    assert atoms["q"] == atoms["{query_string}e"] == "hub.verify_token=[redacted]&hub.mode=subscribe"
    assert atoms["f"] == "https://x.example/?access_token=[redacted]"
    assert atoms["{authorization}i"] == atoms["{cookie}i"] == atoms["{set-cookie}o"] == "[redacted]"
    assert not [value for value in map(str, atoms.values()) if "zq" in value]
    assert captured.lines == ["Error handling request /a/?hub.verify_token=[redacted]&hub.mode=subscribe"]
