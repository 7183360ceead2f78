"""``manage.py metrics_serve``: a worker host's Prometheus endpoint (docs/metrics.md).

It serves the counters of every process sharing ``PROMETHEUS_MULTIPROC_DIR`` on this host (the Celery worker and
its pool processes), and nothing read from the database or the broker: the web's ``/metrics`` has those.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from prometheus_client import start_http_server

from core.metrics import MULTIPROC_DIR_ENV, exposition_registry, is_multiprocess


class Command(BaseCommand):
    help = "Serve this host's worker metrics (PROMETHEUS_MULTIPROC_DIR) over HTTP for Prometheus, until stopped."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--port", type=int, default=9808, help="the port to listen on (default %(default)s)")
        parser.add_argument(
            "--address", default="127.0.0.1", help="the address to listen on (default %(default)s; 0.0.0.0: all)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not is_multiprocess():
            raise CommandError(
                f"{MULTIPROC_DIR_ENV} is not set: this process would serve only its own, empty, counters. "
                "Set it to the folder the Celery worker on this host writes to."
            )
        server, thread = start_http_server(options["port"], addr=options["address"], registry=exposition_registry())
        self.stdout.write(f"serving metrics on {options['address']}:{server.server_port}")
        self.stdout.flush()
        try:
            thread.join()
        except KeyboardInterrupt:
            server.shutdown()
