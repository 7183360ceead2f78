"""The dashboard's render time against a trivial admin page's, both fetched by one verified operator session in
the same process, interleaved so that drift falls on both sides; and the dashboard's number of queries."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.test import Client

BASELINE_URL = "/admin/policies/legalhold/"  # an admin changelist of an empty table: the admin's fixed cost
DASHBOARD_URL = "/admin/"


@dataclass(frozen=True)
class Measured:
    dashboard_median: float
    baseline_median: float
    dashboard_queries: int
    samples: int

    @property
    def ratio(self) -> float:
        return self.dashboard_median / self.baseline_median


def measure(samples: int) -> Measured:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = _operator_client()
    dashboard: list[float] = []
    baseline: list[float] = []
    for _ in range(2):  # warm both: templates, content types, keys
        _fetch(client, DASHBOARD_URL)
        _fetch(client, BASELINE_URL)
    for round_number in range(samples):
        order = [(DASHBOARD_URL, dashboard), (BASELINE_URL, baseline)]
        for url, times in order if round_number % 2 == 0 else reversed(order):
            times.append(_fetch(client, url))
    with CaptureQueriesContext(connection) as queries:
        _fetch(client, DASHBOARD_URL)
    return Measured(statistics.median(dashboard), statistics.median(baseline), len(queries), samples)


def _fetch(client: Client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:  # noqa: PLR2004
        raise RuntimeError(f"{url} answered {response.status_code}")
    return elapsed


def _operator_client() -> Client:
    from django.test import Client

    from accounts.mfa import SESSION_VERIFIED_AT, totp_device_provision
    from accounts.models import User

    operator = User.objects.create_superuser("bench-operator@gateway.example", "bench password, never used")
    device = totp_device_provision(user=operator)
    client = Client()
    client.force_login(operator)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session[SESSION_VERIFIED_AT] = time.time()
    session.save()
    return client
