"""What bench/events.py sets up: the settings its processes read, the tenant's endpoint at the simulator's
receiver, the worker processes of each kind and beat's part (the events relay)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from _lib.pump import Pump, pumping
from _lib.server import Environment
from _lib.simulator import Simulator
from _lib.tenants import register

EVENT_TYPES = ["message.received"]
RELAY_INTERVAL_SECONDS = 2.0  # beat's schedule for maintenance.events_relay
RECENT_KEPT_MAX = 100_000  # the receiver's bound on the events it lists with their arrival times
# The events may go to 127.0.0.1 over plain http: the throwaway settings allow it whatever the environment says.
EVENT_SETTINGS = {
    "GATEWAY_EVENTS_ALLOW_HTTP": "1",
    "GATEWAY_EVENTS_ALLOWED_NETWORKS": "127.0.0.0/8",
    "GATEWAY_LOG_LEVEL": "WARNING",
}


@dataclass(frozen=True)
class WorkerPlan:
    """How many worker processes of a kind, and the threads of each (``--pool threads``)."""

    processes: int
    threads: int

    @property
    def slots(self) -> int:
        return self.processes * self.threads

    def describe(self) -> str:
        return f"{self.processes} x `celery worker --pool threads --concurrency {self.threads}`"


@dataclass(frozen=True)
class Registered:
    tenant_id: uuid.UUID
    channel_id: uuid.UUID
    app_key: str
    endpoint_id: uuid.UUID
    secret: str


def register_with_endpoint(receiver: Simulator, max_in_flight: int) -> Registered:
    """_lib's tenant and WhatsApp channel, and one enabled endpoint for ``message.received`` at the simulator's
    receiver, ``max_in_flight`` deliveries at once; the receiver verifies with its secret."""
    from accounts.actors import Actor
    from accounts.models import Tenant
    from events.endpoints import endpoint_create
    from events.models import Endpoint
    from messaging.models import Channel

    registered = register()
    channel = Channel.objects.get(meta_app_id=registered.meta_app_id, provider_id=registered.channel_provider_id)
    tenant = Tenant.objects.get(pk=channel.tenant_id)
    created = endpoint_create(
        tenant=tenant,
        values={"url": f"{receiver.url}/_sim/events", "event_types": EVENT_TYPES, "description": "bench receiver"},
        actor=Actor(label="bench"),
    )
    Endpoint.objects.filter(pk=created.endpoint.pk).update(max_in_flight=max_in_flight)
    receiver.request("POST", "/_sim/event-receiver", {"secrets": [created.secret], "recent_kept": RECENT_KEPT_MAX})
    return Registered(tenant.pk, channel.pk, registered.app_key, created.endpoint.pk, created.secret)


def events_queue(queue: str) -> str:
    return f"{queue}_events"


@contextmanager
def workers(environment: Environment, *, events: WorkerPlan, ingest: WorkerPlan) -> Iterator[dict[str, list[int]]]:
    """The events workers on the run's events queue and the ingest workers on its ingest queue; their pids by
    kind."""
    from _lib.workers import celery_workers

    env = environment.env()  # settings_apply() put EVENT_SETTINGS in it
    with ExitStack() as stack:
        pids: dict[str, list[int]] = {}
        for kind, plan, queue in (
            ("events workers", events, events_queue(environment.queue)),
            ("ingest workers", ingest, environment.queue),
        ):
            processes = stack.enter_context(
                celery_workers(
                    env,
                    plan.processes,
                    queue=queue,
                    name=f"bench-{kind.split()[0]}",
                    log_dir=environment.temp_dir,
                    pool="threads",
                    concurrency=plan.threads,
                )
            )
            pids[kind] = [process.pid for process in processes]
        yield pids


def relay_once() -> None:
    from events.relay import events_relay

    events_relay()


@contextmanager
def relay_pump() -> Iterator[Pump]:
    """Beat's part, in a thread of this process: the events relay every 2 s, as beat runs it."""
    with pumping(relay_once, RELAY_INTERVAL_SECONDS) as pump:
        yield pump


def settings_apply() -> None:
    """The event settings, for this process and the processes it starts (they inherit its environment)."""
    os.environ.update(EVENT_SETTINGS)
