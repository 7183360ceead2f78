"""The embedded broker (core/broker.py) with real producer and consumer processes: every message published is
consumed once and intact, a claimed message comes back when its consumer dies, and nothing else comes back."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, cast

import pytest
from kombu import Connection, Message, Producer

from core.broker import Channel

TRANSPORT = "core.broker:Transport"
QUEUE = "ingest"
STOP = "stop"
PRODUCERS = 4
CONSUMERS = 3
MESSAGES_PER_PRODUCER = 1250  # 5,000 in all: kombu's own filesystem transport lost about 0.3 % of them

pytestmark = pytest.mark.slow


def broker_options(folder: Path, **extra: Any) -> dict[str, Any]:
    queue = str(folder / "queue")
    return {"data_folder_in": queue, "data_folder_out": queue, "control_folder": str(folder / "control"), **extra}


def broker_connection(folder: Path, **extra: Any) -> Connection:
    return Connection(transport=TRANSPORT, transport_options=broker_options(folder, **extra))


def broker_channel(connection: Connection) -> Channel:
    return cast(Channel, connection.channel())


def message_next(channel: Channel) -> Message:
    message = channel.basic_get(QUEUE)
    assert message is not None
    return message


def produce(folder: Path, producer: int, count: int) -> None:
    with broker_connection(folder) as connection:
        publisher = Producer(connection.channel())
        for sequence in range(count):
            publisher.publish(f"{producer}-{sequence}", routing_key=QUEUE, serializer="json")


def consume(folder: Path, report: Path) -> None:
    """Takes messages until a stop message, acknowledging each; writes what it got and every failed read."""
    received: list[str] = []
    failures: list[str] = []
    with broker_connection(folder) as connection:
        channel = broker_channel(connection)
        while True:
            try:
                message = channel.basic_get(QUEUE)
            except Exception as error:  # a broken transport raises JSONDecodeError, ChannelError…
                failures.append(type(error).__name__)
                continue
            if message is None:
                time.sleep(0.001)
                continue
            body = message.decode()
            message.ack()
            if body == STOP:
                break
            received.append(body)
    report.write_text(json.dumps({"received": received, "failures": failures}))


def hold_one(folder: Path, claimed: Path) -> None:
    """Takes one message without acknowledging it, says so, and waits to be killed."""
    with broker_connection(folder) as connection:
        channel = broker_channel(connection)
        message = None
        while message is None:
            message = channel.basic_get(QUEUE)
        claimed.write_text(message.decode())
        while True:
            time.sleep(1)


def publish(folder: Path, *bodies: str) -> None:
    with broker_connection(folder) as connection:
        publisher = Producer(connection.channel())
        for body in bodies:
            publisher.publish(body, routing_key=QUEUE, serializer="json")


@contextmanager
def processes_killed_at_exit(processes: list[BaseProcess]) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()


def test_concurrent_producers_and_consumers_lose_corrupt_and_duplicate_nothing(tmp_path: Path) -> None:
    (tmp_path / "queue").mkdir()
    context = multiprocessing.get_context("spawn")
    reports = [tmp_path / f"consumer-{number}.json" for number in range(CONSUMERS)]
    consumers = [context.Process(target=consume, args=(tmp_path, report)) for report in reports]
    producers = [
        context.Process(target=produce, args=(tmp_path, number, MESSAGES_PER_PRODUCER)) for number in range(PRODUCERS)
    ]
    with processes_killed_at_exit([*consumers, *producers]):
        for process in [*consumers, *producers]:
            process.start()
        for process in producers:
            process.join()
        publish(tmp_path, *[STOP] * CONSUMERS)  # published after every other message: each consumer takes one
        for process in consumers:
            process.join(timeout=60)  # a consumer whose stop message was lost never ends
        ended = [process.exitcode for process in consumers]

    results = [json.loads(report.read_text()) for report in reports if report.exists()]
    received = Counter(body for result in results for body in result["received"])
    expected = {f"{producer}-{sequence}" for producer in range(PRODUCERS) for sequence in range(MESSAGES_PER_PRODUCER)}
    outcome = {
        "producers ended": [process.exitcode for process in producers],
        "consumers ended": ended,
        "failed reads": Counter(failure for result in results for failure in result["failures"]),
        "lost": len(expected - set(received)),
        "duplicated": sorted(body for body, count in received.items() if count > 1),
        "unexpected": sorted(set(received) - expected),
    }
    assert outcome == {
        "producers ended": [0] * PRODUCERS,
        "consumers ended": [0] * CONSUMERS,
        "failed reads": Counter(),
        "lost": 0,
        "duplicated": [],
        "unexpected": [],
    }
    assert os.listdir(tmp_path / "queue") == []
    assert os.listdir(tmp_path / "claimed") == []


def test_a_message_held_by_a_killed_consumer_comes_back_after_the_visibility_timeout_only(tmp_path: Path) -> None:
    publish(tmp_path, "first", "second")
    claimed = tmp_path / "claimed-body"
    holder = multiprocessing.get_context("spawn").Process(target=hold_one, args=(tmp_path, claimed))
    with processes_killed_at_exit([holder]):
        holder.start()
        while not claimed.exists() and holder.is_alive():
            time.sleep(0.05)
        os.kill(holder.pid or 0, signal.SIGKILL)
        holder.join()
    assert claimed.read_text() == "first"

    with broker_connection(tmp_path, visibility_timeout=3600) as connection:
        channel = broker_channel(connection)
        second = message_next(channel)
        assert second.decode() == "second"
        second.ack()
        assert channel.basic_get(QUEUE) is None  # still claimed by the dead consumer, within the timeout
    with broker_connection(tmp_path, visibility_timeout=0) as connection:
        channel = broker_channel(connection)
        redelivered = message_next(channel)
        assert redelivered.decode() == "first"
        redelivered.ack()
        assert channel.basic_get(QUEUE) is None
    assert os.listdir(tmp_path / "claimed") == []


def test_a_rejected_message_is_requeued_once_and_a_closed_channel_puts_back_what_it_held(tmp_path: Path) -> None:
    publish(tmp_path, "one", "two")
    with broker_connection(tmp_path) as connection:
        channel = broker_channel(connection)
        message_next(channel).reject(requeue=True)
        held = message_next(channel)
        assert held.decode() == "two"
        assert channel._size(QUEUE) == 1
        channel.close()  # a worker stopping with a message it has not acknowledged
    with broker_connection(tmp_path) as connection:
        channel = broker_channel(connection)
        bodies = []
        while (message := channel.basic_get(QUEUE)) is not None:
            bodies.append(message.decode())
            message.ack()
    assert sorted(bodies) == ["one", "two"]
    assert os.listdir(tmp_path / "claimed") == []


def test_a_file_that_is_not_a_message_is_set_aside_and_the_next_message_delivered(tmp_path: Path) -> None:
    publish(tmp_path, "after")
    (tmp_path / "queue" / f"{0:020d}_garbage.{QUEUE}.msg").write_bytes(b'{"body": "trunc')
    with broker_connection(tmp_path) as connection:
        message = message_next(broker_channel(connection))
        assert message.decode() == "after"
        message.ack()
    assert os.listdir(tmp_path / "rejected") == [f"{0:020d}_garbage.{QUEUE}.msg"]
