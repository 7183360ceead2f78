"""Outbound dispatch: sends/s against the simulator's raw capacity, queued-to-accepted latency, per-channel pacing.

1. Baseline: the simulator's raw capacity, plain keep-alive ``http.client`` connections from threads of this
   process (``simulator.capacity.measure``), measured before and after the gateway runs; the better one counts.
2. Throughput: 5,000 messages queued at once across 10 WhatsApp channels (80 messages/s each), published by
   the outbox relay, sent by two outbound worker processes. Targets: >= 500 sends/s and >= 0.5 of the
   baseline. Also: p50/p99 from the publish to ``accepted`` (the backlog drains, so this is a drain time),
   and the most sends the simulator counted in one wall-clock second on any channel (never above its limit).
3. Latency: messages written one at a time the way the send API writes them (message + outbox row, one
   ``outbound.send`` published on commit) at a paced rate; p50/p99 from ``queued`` (``received_at``) to
   ``accepted`` (the finish of the accepted attempt). Information: no target.
4. In-process cost per send of the two paths (one message per task, a batch per task) with the queries each
   makes, the workers stopped. Information: no target.

Needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL: ``make bench`` finds them). Everything runs against a
throwaway database (``bench_dispatch_<pid>``), a Celery queue of the run's own (deleted at the end) and two
simulator processes of its own: Graph, and a sink for its status webhooks (off unless ``--status-webhooks``:
Meta's statuses would cost Meta's cores, and here they never reach the gateway, so they only take the shared
cores from the workers). Only 127.0.0.1 is loaded. The exit status is 0 even when a target fails, unless
``--strict`` is given.

    make bench
    .venv/bin/python -m core.services_probe exec -- .venv/bin/python bench/dispatch.py --messages 5000 --strict
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ingest  # bench/ingest.py: the throwaway database and queue helpers

if TYPE_CHECKING:
    from messaging.models import Channel

ROOT = Path(__file__).resolve().parent.parent
SIM_TOKEN = "bench-dispatch-token-0123456789"
APP_SECRET = "bench-dispatch-app-secret-0123456789"
PROVIDER_BASE = 106_540_352_300_000  # provider ids of the bench's channels: PROVIDER_BASE + index

SENDS_TARGET = 500.0  # sends/s, absolute
RATIO_TARGET = 0.5  # gateway sends/s / baseline sends/s
CHANNEL_RATE = 80  # Meta's default throughput per number
BASELINE_THREADS = 8
WARMUP_PER_CHANNEL = 16
SETTLE_TIMEOUT_SECONDS = 180.0
POLL_SECONDS = 0.2
RELAY_INTERVAL_SECONDS = 0.5  # beat's part during the runs (the relay alone; no sweeps are needed)
STATUS_BATCH = 20  # the simulator packs backed-up statuses, as Meta does, so its webhooks cost less
IN_PROCESS_SINGLE = 60
IN_PROCESS_BATCHED = 320


# --- environment: throwaway database, settings, simulators, workers ---------------------------------------------


@dataclass
class Environment:
    temp_dir: Path
    database_url: str
    redis_url: str
    queue: str
    graph_url: str = ""

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench_dispatch_settings",
            "PYTHONPATH": os.pathsep.join([str(self.temp_dir), str(ROOT)]),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "GATEWAY_GRAPH_BASE_URL": self.graph_url,
            "GATEWAY_LOG_LEVEL": "WARNING",
        }


def write_settings(temp_dir: Path, queue: str) -> None:
    """The project's settings, with ``outbound.*`` tasks routed to a queue of this run's own."""
    (temp_dir / "bench_dispatch_settings.py").write_text(
        textwrap.dedent(
            f"""\
            from gateway.settings import *  # noqa: F403

            CELERY_TASK_ROUTES = {{**CELERY_TASK_ROUTES, "outbound.*": {{"queue": {queue!r}}}}}  # noqa: F405
            """
        )
    )


def django_setup(environment: Environment) -> None:
    for name, value in environment.env().items():
        if name.startswith(("DJANGO_", "DATABASE_", "REDIS_", "GATEWAY_")):
            os.environ[name] = value
    for path in (str(ROOT), str(environment.temp_dir)):
        if path not in sys.path:
            sys.path.insert(0, path)
    import django

    django.setup()


def migrate(environment: Environment) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=environment.env(),
        check=True,
        timeout=180,
    )
    return time.perf_counter() - started


@dataclass(frozen=True)
class Simulator:
    url: str
    pid: int

    def request(self, method: str, path: str, body: object = None) -> Any:
        parts = urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
        try:
            connection.request(method, path, body=None if body is None else json.dumps(body))
            response = connection.getresponse()
            answer = json.loads(response.read() or b"null")
            if not 200 <= response.status < 300:  # noqa: PLR2004
                raise RuntimeError(f"simulator {method} {path}: {response.status} {answer}")
            return answer
        finally:
            connection.close()

    def webhooks_idle(self, seconds: float = 60.0) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.request("GET", "/_sim/webhooks")["idle"]:
                return True
            time.sleep(0.2)
        return False


@contextmanager
def simulator(*arguments: str) -> Iterator[Simulator]:
    from simulator.capacity import simulator_process

    with simulator_process(*arguments) as running:
        if running.pid is None:
            raise RuntimeError("the simulator did not start")
        yield Simulator(running.url, running.pid)


def simulator_channel(provider_id: str, token: str, sink_url: str, *, statuses: bool) -> dict[str, Any]:
    """A channel with no limit of its own (the per-second histogram then shows the gateway's own pacing), no
    window and no pair limit; with ``statuses``, posting its three statuses per send to the sink."""
    return {
        "platform": "whatsapp",
        "provider_id": provider_id,
        "access_token": token,
        "app_secret": APP_SECRET,
        "webhook_url": sink_url,
        "mps": 100_000,
        "pair_period_seconds": 0,
        "enforce_window": False,
        **({} if statuses else {"status_delays_ms": None}),
    }


@contextmanager
def workers(environment: Environment, count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` Celery worker processes (solo pool, as the tests run them) on this run's queue."""
    with ExitStack() as stack:
        processes = []
        for index in range(count):
            log = stack.enter_context((environment.temp_dir / f"worker-{index}.log").open("wb"))
            command = [
                sys.executable,
                "-m",
                "celery",
                "--app",
                "gateway",
                "worker",
                "--queues",
                environment.queue,
                "--pool",
                "solo",
                "--hostname",
                f"bench-dispatch-{index}-{os.getpid()}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "WARNING",
            ]
            process = subprocess.Popen(  # noqa: S603
                command,
                cwd=ROOT,
                env=environment.env(),
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
            stack.callback(stop, process)
            processes.append(process)
        yield processes


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: only this worker
        process.wait(timeout=10)


class RelayPump:
    """Beat's part, in a thread: the outbox relay every RELAY_INTERVAL_SECONDS."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        from django.db import connection
        from django.utils import timezone

        from messaging.outbound.dispatch.relay import outbox_relay

        try:
            while not self.stopped.wait(RELAY_INTERVAL_SECONDS):
                outbox_relay(now=timezone.now(), grace=timedelta(0))
        except BaseException as error:  # reported by the caller
            self.errors.append(error)
        finally:
            connection.close()


@contextmanager
def relay_pump() -> Iterator[RelayPump]:
    pump = RelayPump()
    pump.thread.start()
    try:
        yield pump
    finally:
        pump.stopped.set()
        pump.thread.join(timeout=30)
    if pump.errors:
        raise pump.errors[0]


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds so far: the whole machine (user, system and interrupts, all cores; not idle, iowait or time
    the hypervisor took) and every process by pid, with its name (Linux /proc; empty elsewhere)."""

    busy: float
    processes: dict[int, tuple[str, float]]

    @staticmethod
    def take() -> CpuSample:
        tick = os.sysconf("SC_CLK_TCK")
        try:
            fields = [float(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
            busy = (fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) / tick  # user nice system irq softirq
        except (OSError, IndexError, ValueError):
            busy = float("nan")
        processes = {}
        for entry in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = entry.read_text()
                name = text[text.index("(") + 1 : text.rindex(")")]
                values = text.rsplit(")", 1)[1].split()
                processes[int(entry.parent.name)] = (name, (int(values[11]) + int(values[12])) / tick)
            except (OSError, ValueError, IndexError):
                continue
        return CpuSample(busy, processes)


def cpu_split(before: CpuSample, after: CpuSample, named: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds between the samples: the named groups, PostgreSQL (every server process: the run's
    backends, WAL writer, checkpointer; other databases too), Redis, and every other process together."""
    owner = {pid: name for name, pids in named.items() for pid in pids}
    split: dict[str, float] = dict.fromkeys(named, 0.0)
    for pid, (command, seconds) in after.processes.items():
        spent = seconds - before.processes.get(pid, (command, 0.0))[1]
        if pid in owner:
            group = owner[pid]
        elif command.startswith("postgres"):
            group = "PostgreSQL"
        elif command.startswith("redis"):
            group = "Redis"
        else:
            group = "other processes"
        split[group] = split.get(group, 0.0) + spent
    split["kernel and exited processes"] = (after.busy - before.busy) - sum(split.values())
    return split


# --- data: channels and queued messages -------------------------------------------------------------------------


def register(channels: int, rate: int, sim: Simulator, sink_url: str, *, statuses: bool) -> list[Channel]:
    from accounts.actors import Actor
    from accounts.services import tenant_create
    from messaging.channels import channel_add, meta_app_register
    from messaging.models import Channel, Platform

    actor = Actor(label="bench")
    tenant = tenant_create(name="Bench dispatch", slug=f"bench-dispatch-{os.getpid()}", actor=actor)
    app = meta_app_register(tenant=tenant, name="Bench dispatch app", app_secret=APP_SECRET, actor=actor).meta_app
    created = [
        channel_add(
            tenant=tenant,
            meta_app=app,
            platform=Platform.WHATSAPP,
            provider_id=str(PROVIDER_BASE + index),
            access_token=SIM_TOKEN,
            actor=actor,
        )
        for index in range(channels)
    ]
    Channel.objects.filter(pk__in=[channel.pk for channel in created]).update(max_messages_per_second=rate)
    sim.request(
        "POST",
        "/_sim/channels",
        {
            "channels": [
                simulator_channel(channel.provider_id, SIM_TOKEN, sink_url, statuses=statuses) for channel in created
            ]
        },
    )
    return list(Channel.objects.filter(pk__in=[channel.pk for channel in created]).order_by("provider_id"))


def text_content(index: int) -> dict[str, Any]:
    return {"v": 1, "platform": "whatsapp", "type": "text", "text": {"body": f"Bench {index}", "preview_url": False}}


def messages_queue(channels: list[Channel], count: int, *, serial: Iterator[int]) -> list[uuid.UUID]:
    """``count`` queued text messages, channels taking turns, each to a customer of its own (the pair rate
    never binds), with their outbox rows: written in bulk (the send API writes the same rows one at a time).
    Nothing is published: the relay does that."""
    from django.db import transaction
    from django.utils import timezone

    from encryption.fields import fresh_scope_keys_create
    from messaging.models import AuthorKind, Contact, Conversation, Direction, Message, MessageStatus, OutboxEntry

    now = timezone.now()
    numbers = [next(serial) for _ in range(count)]
    owners = [channels[index % len(channels)] for index in range(count)]
    new_contacts = [
        Contact(tenant_id=channel.tenant_id, platform=channel.platform, external_id=f"1555{number:07d}")
        for channel, number in zip(owners, numbers, strict=True)
    ]
    fresh_scope_keys_create(new_contacts, "external_id")  # one insert for their subject keys
    with transaction.atomic():
        contacts = Contact.objects.bulk_create(new_contacts)
        conversations = Conversation.objects.bulk_create(
            [
                Conversation(tenant_id=channel.tenant_id, channel=channel, contact=contact)
                for channel, contact in zip(owners, contacts, strict=True)
            ]
        )
        messages = Message.objects.bulk_create(
            [
                Message(
                    tenant_id=channel.tenant_id,
                    channel=channel,
                    conversation=conversation,
                    contact=contact,
                    direction=Direction.OUTBOUND,
                    message_type="text",
                    status=MessageStatus.QUEUED,
                    author_kind=AuthorKind.SYSTEM,
                    received_at=now,
                    provider_timestamp=now,
                    content=text_content(number),
                )
                for channel, contact, conversation, number in zip(owners, contacts, conversations, numbers, strict=True)
            ]
        )
        OutboxEntry.objects.bulk_create(
            [
                OutboxEntry(message=message, tenant_id=message.tenant_id, channel=message.channel, available_at=now)
                for message in messages
            ]
        )
    return [message.pk for message in messages]


def message_queue_one(channel: Channel, number: int) -> uuid.UUID:
    """One message the way the send API writes it: message and outbox row in one transaction, ``outbound.send``
    published on commit (its contact and conversation made beforehand, untimed)."""
    from django.db import transaction
    from django.utils import timezone

    from core.tasks import enqueue_by_name_on_commit
    from messaging.models import AuthorKind, Contact, Conversation, Direction, Message, MessageStatus, OutboxEntry
    from messaging.task_names import SEND_TASK

    contact = Contact.objects.create(
        tenant_id=channel.tenant_id, platform=channel.platform, external_id=f"1555{number:07d}"
    )
    conversation = Conversation.objects.create(tenant_id=channel.tenant_id, channel=channel, contact=contact)
    now = timezone.now()
    with transaction.atomic():
        message = Message.objects.create(
            tenant_id=channel.tenant_id,
            channel=channel,
            conversation=conversation,
            contact=contact,
            direction=Direction.OUTBOUND,
            message_type="text",
            status=MessageStatus.QUEUED,
            author_kind=AuthorKind.SYSTEM,
            received_at=now,
            provider_timestamp=now,
            content=text_content(number),
        )
        OutboxEntry.objects.create(message=message, tenant_id=channel.tenant_id, channel=channel, available_at=now)
        enqueue_by_name_on_commit(SEND_TASK, message.pk)
    return message.pk


def settled_count(ids: list[uuid.UUID]) -> Counter[str]:
    from messaging.models import Message

    counts: Counter[str] = Counter()
    for start in range(0, len(ids), 5000):
        counts.update(Message.objects.filter(pk__in=ids[start : start + 5000]).values_list("status", flat=True))
    return counts


def wait_settled(ids: list[uuid.UUID], seconds: float) -> Counter[str]:
    """Wait until no message of these channels is on its way (one indexed look a poll), then count these."""
    from messaging.models import Message, MessageStatus

    channel_ids = set(Message.objects.filter(pk__in=ids[:1000]).values_list("channel_id", flat=True).distinct())
    waiting = [MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.UNCONFIRMED]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not Message.objects.filter(channel_id__in=channel_ids, status__in=waiting).exists():
            break
        time.sleep(POLL_SECONDS)
    return settled_count(ids)


@dataclass
class Timings:
    accepted_at: list[datetime] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds
    attempts: Counter[str] = field(default_factory=Counter)

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def timings(ids: list[uuid.UUID], *, queued_at: datetime | None) -> Timings:
    """From the database: each accepted attempt's finish, less the message's ``received_at`` (or ``queued_at``
    when the whole batch became available at one moment)."""
    from messaging.models import AttemptOutcome, SendAttempt

    result = Timings()
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        rows = SendAttempt.objects.filter(message_id__in=chunk).values_list(
            "outcome", "finished_at", "message__received_at"
        )
        for outcome, finished_at, received_at in rows:
            result.attempts[outcome] += 1
            if outcome == AttemptOutcome.ACCEPTED and finished_at is not None:
                result.accepted_at.append(finished_at)
                result.latencies.append((finished_at - (queued_at or received_at)).total_seconds())
    return result


# --- the phases ---------------------------------------------------------------------------------------------------


Verdict = ingest.Verdict


def measure_baseline(sim: Simulator, seconds: float) -> float:
    from simulator.capacity import measure

    result = measure(sim.url, threads=BASELINE_THREADS, seconds=seconds)
    sim.webhooks_idle()  # its statuses are posted before the next phase starts
    return result.per_second


@dataclass
class Throughput:
    queued: int
    seconds: float
    counts: Counter[str]
    timing: Timings
    per_second_max: dict[str, int]
    sim_accepted: int
    duplicates: int
    errors: dict[str, int]
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds during the run, by process group
    machine_busy: float = float("nan")  # CPU seconds of the whole machine during the run

    @property
    def rate(self) -> float:
        return len(self.timing.accepted_at) / self.seconds if self.seconds else 0.0


def run_throughput(
    channels: list[Channel], sim: Simulator, count: int, serial: Iterator[int], pids: dict[str, list[int]]
) -> Throughput:
    from django.utils import timezone

    from messaging.outbound.dispatch.relay import outbox_relay

    ids = messages_queue(channels, count, serial=serial)
    sim.webhooks_idle()
    sim.request("DELETE", "/_sim/sends")  # the warm-up's counts out of the histogram
    with relay_pump():
        before = CpuSample.take()
        published_at = timezone.now()
        outbox_relay(now=published_at, grace=timedelta(0))
        counts = wait_settled(ids, SETTLE_TIMEOUT_SECONDS)
        after = CpuSample.take()
    timing = timings(ids, queued_at=published_at)
    last = max(timing.accepted_at, default=published_at)
    sends = sim.request("GET", "/_sim/sends?ids=false")
    return Throughput(
        queued=count,
        seconds=(last - published_at).total_seconds(),
        counts=counts,
        timing=timing,
        per_second_max={key: int(value) for key, value in sends["max_per_second"].items()},
        sim_accepted=int(sends["accepted_total"]),
        duplicates=len(sends["duplicates"]),
        errors={str(key): int(value) for key, value in sends["errors"].items()},
        cpu=cpu_split(before, after, pids),
        machine_busy=after.busy - before.busy,
    )


def run_paced(channels: list[Channel], rate: float, seconds: float, serial: Iterator[int]) -> tuple[Timings, float]:
    """Messages written one at a time at ``rate`` per second, channels taking turns; returns their timings and
    the rate actually written."""
    ids: list[uuid.UUID] = []
    total = max(1, int(rate * seconds))
    started = time.perf_counter()
    with relay_pump():
        for index in range(total):
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            ids.append(message_queue_one(channels[index % len(channels)], next(serial)))
        written = time.perf_counter() - started
        wait_settled(ids, SETTLE_TIMEOUT_SECONDS)
    return timings(ids, queued_at=None), total / written


@dataclass
class InProcess:
    label: str
    sends: int
    seconds: float
    queries: int
    outcomes: Counter[str]

    @property
    def per_send_ms(self) -> float:
        return self.seconds / self.sends * 1e3 if self.sends else float("nan")


def run_in_process(channels: list[Channel], serial: Iterator[int]) -> list[InProcess]:
    """Both paths in this process (workers stopped), messages of one channel, queries counted."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from messaging.models import Channel
    from messaging.outbound.dispatch import message_send, messages_send
    from messaging.outbound.dispatch.relay import DISPATCH_BATCH

    Channel.objects.filter(pk=channels[0].pk).update(max_messages_per_second=1000)  # no binding limit here
    channels = list(Channel.objects.filter(pk=channels[0].pk))
    results = []
    for label, count, size in (
        ("one message per task (outbound.send)", IN_PROCESS_SINGLE, 1),
        (f"{DISPATCH_BATCH} per task (outbound.send_batch)", IN_PROCESS_BATCHED, DISPATCH_BATCH),
    ):
        warm = messages_queue(channels[:1], size, serial=serial)
        messages_send(message_ids=warm)  # connections, key caches, call threads
        ids = messages_queue(channels[:1], count, serial=serial)
        outcomes: Counter[str] = Counter()
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            for start in range(0, count, size):
                chunk = ids[start : start + size]
                if size == 1:
                    outcomes[message_send(message_id=chunk[0])] += 1
                else:
                    outcomes.update(messages_send(message_ids=chunk))
            elapsed = time.perf_counter() - started
        results.append(InProcess(label, count, elapsed, len(queries.captured_queries), outcomes))
    return results


# --- main -----------------------------------------------------------------------------------------------------------


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Benchmark outbound dispatch: two worker processes sending queued messages to the simulator, against "
            "the simulator's raw capacity with a plain keep-alive client (targets >= 500 sends/s and >= 0.5x), "
            "latency from queued to accepted, the most sends per second on a channel (never above its limit). "
            "Needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL). Exit status 0 unless --strict."
        )
    )
    parser.add_argument("--messages", type=int, default=5000, help="queued at once for the throughput run")
    parser.add_argument("--channels", type=int, default=10, help="WhatsApp channels the messages are spread over")
    parser.add_argument("--channel-rate", type=int, default=CHANNEL_RATE, help="each channel's messages/s (80)")
    parser.add_argument("--workers", type=int, default=2, help="outbound worker processes (default 2)")
    parser.add_argument("--baseline-seconds", type=float, default=3.0, help="each baseline sample (default 3)")
    parser.add_argument("--paced-rate", type=float, default=100.0, help="latency run: messages/s (default 100)")
    parser.add_argument("--paced-seconds", type=float, default=5.0, help="latency run: seconds (default 5)")
    parser.add_argument(
        "--status-webhooks",
        action="store_true",
        help="the simulator posts 3 statuses per send to a sink in every phase, baseline included (off by default:"
        " they cost the shared cores, not the gateway, which they never reach here)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    arguments = parser.parse_args(argv)
    if not 100 <= arguments.messages <= 50_000:  # noqa: PLR2004
        parser.error("--messages must be between 100 and 50,000")
    if not 1 <= arguments.channels <= 100:  # noqa: PLR2004
        parser.error("--channels must be between 1 and 100")
    if not 1 <= arguments.channel_rate <= 1000:  # noqa: PLR2004
        parser.error("--channel-rate must be between 1 and 1,000 (Channel.max_messages_per_second)")
    if not 1 <= arguments.workers <= 8:  # noqa: PLR2004
        parser.error("--workers must be between 1 and 8")
    if not 1 <= arguments.baseline_seconds <= 30:  # noqa: PLR2004
        parser.error("--baseline-seconds must be between 1 and 30")
    if not 1 <= arguments.paced_rate <= 500 or not 1 <= arguments.paced_seconds <= 60:  # noqa: PLR2004
        parser.error("--paced-rate must be between 1 and 500 and --paced-seconds between 1 and 60")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    started = time.perf_counter()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        print("Outbound dispatch (bench/dispatch.py): needs PostgreSQL and Redis (DATABASE_URL and REDIS_URL);")
        print("run it through `make bench` or `python -m core.services_probe exec -- ...`. Nothing measured.")
        return 1 if arguments.strict else 0
    pid = os.getpid()
    temp_dir = Path(tempfile.mkdtemp(prefix="bench_dispatch_"))
    queue = f"bench_dispatch_{pid}"
    redis_url = os.environ["REDIS_URL"]
    try:
        write_settings(temp_dir, queue)
        with ingest.throwaway_database(f"bench_dispatch_{pid}") as database_url:
            environment = Environment(temp_dir, database_url, redis_url, queue)
            return run(arguments, environment, started)
    finally:
        ingest.queue_delete(redis_url, queue)
        shutil.rmtree(temp_dir, ignore_errors=True)


def run(arguments: argparse.Namespace, environment: Environment, started: float) -> int:
    migrated = migrate(environment)
    with simulator("--status-batch", str(STATUS_BATCH)) as sim, simulator() as sink:
        environment.graph_url = sim.url
        django_setup(environment)
        import django
        from django.conf import settings

        from messaging.outbound.dispatch.calls import CALL_THREADS
        from messaging.outbound.dispatch.relay import DISPATCH_BATCH
        from simulator.capacity import CHANNEL_ID, TOKEN

        sink_url = f"{sink.url}/_sim/sink"
        statuses = arguments.status_webhooks
        sim.request("POST", "/_sim/channels", simulator_channel(CHANNEL_ID, TOKEN, sink_url, statuses=statuses))
        channels = register(arguments.channels, arguments.channel_rate, sim, sink_url, statuses=statuses)
        serial = iter(range(1, 10_000_000))
        print("Outbound dispatch: workers against the simulator's raw capacity (bench/dispatch.py)")
        print(f"Python {platform.python_version()}, Django {django.get_version()}, {os.cpu_count()} CPUs")
        print(f"Database: {ingest.describe_database()} (migrated in {migrated:.1f} s)")
        print(f"Broker: Redis, queue {environment.queue} (deleted at the end); rate limits in Redis")
        print(
            f"Workers: {arguments.workers} x `celery worker --pool solo`; {DISPATCH_BATCH} messages per relay task,"
            f" {CALL_THREADS} call threads per process; rate guard {settings.GATEWAY_SEND_RATE_GUARD_MS} ms"
        )
        webhooks = (
            f"status webhooks (3 per send, up to {STATUS_BATCH} per POST when backed up) to a second simulator's sink"
            if statuses
            else "no status webhooks (--status-webhooks turns them on: they load the shared cores, not the gateway)"
        )
        print(f"Simulator: its own process, {webhooks}; channels with no limit of their own")

        baselines = [measure_baseline(sim, arguments.baseline_seconds)]
        with workers(environment, arguments.workers) as processes:
            warm = messages_queue(channels, WARMUP_PER_CHANNEL * len(channels), serial=serial)
            with relay_pump():
                warmed = wait_settled(warm, 120)
            if warmed["accepted"] < len(warm):
                raise RuntimeError(f"warm-up did not settle: {dict(warmed)}; see {environment.temp_dir}/worker-*.log")
            pids = {
                "workers": [process.pid for process in processes],
                "simulator": [sim.pid],
                "webhook sink": [sink.pid],
                "bench (poll, relay)": [os.getpid()],
            }
            throughput = run_throughput(channels, sim, arguments.messages, serial, pids)
            sim.webhooks_idle()
            baselines.append(measure_baseline(sim, arguments.baseline_seconds))
            paced, paced_rate = run_paced(channels, arguments.paced_rate, arguments.paced_seconds, serial)
            exited = [process.returncode for process in processes if process.poll() is not None]
        in_process = run_in_process(channels, serial)

    verdicts = report_throughput(arguments, baselines, throughput, exited)
    report_paced(paced, paced_rate, arguments)
    report_in_process(in_process)
    failed = [verdict for verdict in verdicts if not verdict.passed]
    print()
    print("Targets")
    for verdict in verdicts:
        print(f"   {verdict.label:<44} {verdict.value:>12}  {verdict.target:<12} {verdict.mark}")
    outcome = f"{len(verdicts) - len(failed)} of {len(verdicts)} targets pass"
    exit_note = "" if arguments.strict else " (exit status 0 regardless; --strict makes a failure exit 1)"
    print(f"{outcome}{exit_note}; total {time.perf_counter() - started:.1f} s")
    return 1 if failed and arguments.strict else 0


def report_throughput(
    arguments: argparse.Namespace, baselines: list[float], result: Throughput, exited: list[int | None]
) -> list[Verdict]:
    from messaging.models import MessageStatus

    baseline = max(baselines)
    rate = result.rate
    ratio = rate / baseline if baseline else 0.0
    timing = result.timing
    print()
    print(
        f"1. Baseline: simulator.capacity.measure, {BASELINE_THREADS} keep-alive http.client threads, "
        f"{arguments.baseline_seconds:.0f} s before and after the gateway runs"
    )
    print(f"   accepted sends/s: {' / '.join(f'{value:.0f}' for value in baselines)} (the better one counts)")
    print()
    print(
        f"2. Throughput: {result.queued} messages queued at once on {arguments.channels} channels"
        f" ({arguments.channel_rate}/s each, {arguments.channels * arguments.channel_rate}/s together), published by"
        f" the relay, {arguments.workers} worker processes"
    )
    accepted = result.counts[MessageStatus.ACCEPTED]
    print(
        f"   {accepted} accepted, {result.counts[MessageStatus.FAILED]} failed,"
        f" {result.queued - accepted - result.counts[MessageStatus.FAILED]} unsettled;"
        f" {len(timing.accepted_at)} accepted in {result.seconds:.2f} s from the publish:"
        f" {rate:.0f} sends/s, {ratio:.2f}x the baseline"
    )
    print(
        f"   publish -> accepted (the backlog draining): p50 {timing.percentile(0.5) * 1e3:.0f} ms,"
        f" p99 {timing.percentile(0.99) * 1e3:.0f} ms"
    )
    attempts = ", ".join(f"{name} {count}" for name, count in sorted(timing.attempts.items()))
    print(f"   attempt rows: {attempts}")
    peak = max(result.per_second_max.values(), default=0)
    channel_peaks = " ".join(
        str(result.per_second_max.get(str(PROVIDER_BASE + i), 0)) for i in range(arguments.channels)
    )
    print(f"   most sends in one wall-clock second per channel (simulator): {channel_peaks}")
    if accepted:
        print(
            "   CPU per accepted send: "
            + ", ".join(f"{name} {seconds / accepted * 1e3:.2f} ms" for name, seconds in result.cpu.items())
        )
    print(f"   machine: {result.machine_busy / max(result.seconds, 1e-9):.2f} of {os.cpu_count()} CPUs busy")
    print(
        f"   simulator: {result.sim_accepted} accepted, {result.duplicates} duplicates,"
        f" errors {result.errors or 'none'}"
    )
    if exited:
        print(f"   NOTE: worker processes exited during the run: {exited}")
    complete = accepted == result.queued == result.sim_accepted and result.duplicates == 0
    return [
        Verdict(
            "dispatch sends/s (absolute)",
            f"{rate:.0f}/s",
            f">= {SENDS_TARGET:.0f}/s",
            rate >= SENDS_TARGET and complete,
        ),
        Verdict(
            "dispatch / simulator baseline",
            f"{ratio:.2f}x",
            f">= {RATIO_TARGET:.1f}x",
            ratio >= RATIO_TARGET and complete,
        ),
        Verdict(
            "peak sends/s on a channel (simulator)",
            f"{peak}",
            f"<= {arguments.channel_rate}",
            0 < peak <= arguments.channel_rate,
        ),
        Verdict("every message accepted once", f"{result.sim_accepted}/{result.queued}", "all, once", complete),
    ]


def report_paced(timing: Timings, rate: float, arguments: argparse.Namespace) -> None:
    print()
    print(
        f"3. Latency: {len(timing.latencies)} messages written one at a time as the send API does, {rate:.0f}/s for"
        f" {arguments.paced_seconds:.0f} s, one outbound.send each; queued (received_at) -> accepted (attempt finish)"
    )
    print(
        f"   p50 {timing.percentile(0.5) * 1e3:.1f} ms, p99 {timing.percentile(0.99) * 1e3:.1f} ms,"
        f" max {max(timing.latencies, default=float('nan')) * 1e3:.1f} ms"
    )


def report_in_process(results: list[InProcess]) -> None:
    print()
    print("4. In-process cost per send (workers stopped; the simulator on the same cores), one channel")
    print(f"   {'path':<40} {'sends':>6} {'ms/send':>8} {'queries/send':>13}  outcomes")
    for result in results:
        outcomes = ", ".join(f"{name} {count}" for name, count in sorted(result.outcomes.items()))
        print(
            f"   {result.label:<40} {result.sends:>6} {result.per_send_ms:>8.2f}"
            f" {result.queries / result.sends:>13.1f}  {outcomes}"
        )
    if len(results) == 2:  # noqa: PLR2004
        print(
            f"   the batch path costs {results[1].per_send_ms / results[0].per_send_ms:.2f}x the single path per send"
        )


if __name__ == "__main__":
    sys.exit(main())
