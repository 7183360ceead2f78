"""The container's health check for the web process (Dockerfile HEALTHCHECK): ``GET /healthz`` on the local gunicorn.

The request carries a Host header the gateway accepts (the first of DJANGO_ALLOWED_HOSTS; a probe with any other
host is refused with 400). Standard library only: it runs every 30 seconds and must not load Django.
Exit status 0 when the answer is 200, 1 otherwise.
"""

from __future__ import annotations

import http.client
import os
import sys

DEFAULT_PORT = 8000
TIMEOUT_SECONDS = 5
HTTP_OK = 200


def probe_host(allowed_hosts: str) -> str:
    """The first allowed host, a ``.example.com`` pattern as the domain it also matches."""
    for host in allowed_hosts.split(","):
        if host.strip() and host.strip() != "*":
            return host.strip().lstrip(".")
    return "localhost"


def web_is_alive(port: int, host: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)
    try:
        connection.request("GET", "/healthz", headers={"Host": host})
        return connection.getresponse().status == HTTP_OK
    except OSError:
        return False
    finally:
        connection.close()


def main() -> int:
    port = int(os.environ.get("GATEWAY_HEALTHCHECK_PORT", DEFAULT_PORT))
    return 0 if web_is_alive(port, probe_host(os.environ.get("DJANGO_ALLOWED_HOSTS", ""))) else 1


if __name__ == "__main__":
    sys.exit(main())
