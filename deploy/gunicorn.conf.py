"""Gunicorn settings shared by deploy/Procfile, deploy/Procfile.dev and the tests' live server (tests/live_gunicorn.py).

The access log goes to stdout through core.gunicorn_logging, which redacts query values (a handshake's verify
token, an ``?access_token=``) and secret headers from every line.
"""

from typing import Any

accesslog = "-"
logger_class = "core.gunicorn_logging.GunicornLogger"
# gunicorn's control socket (its `gunicornc` interface) defaults to one path in $HOME that every gunicorn of the
# user shares: two `make run`s, or a test's server beside one, would take it from each other. Nothing here uses it.
control_socket_disable = True
# gunicorn's longest request line (its maximum; 4094 by default), above the API's own URI limit
# (core.api_edge.API_MAX_URI_BYTES), so that an API client gets the API's 414 problem document, not gunicorn's page.
limit_request_line = 8190


def child_exit(server: Any, worker: Any) -> None:
    """With PROMETHEUS_MULTIPROC_DIR set (docs/metrics.md), a worker that exits is marked dead in that folder:
    its counters stay in the sums, its live gauges go."""
    from core.metrics import process_dead

    process_dead(worker.pid)
