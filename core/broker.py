"""The embedded broker: kombu's filesystem transport, made safe for several processes.

kombu's own filesystem transport creates a message file, then writes it, and a consumer may move and read the
file in between: it reads an empty or partial message, raises ``JSONDecodeError`` and the message is gone (a
worker that meets one dies). Here a message is written whole to a staging folder, flushed to disk and renamed into
the queue folder, so a consumer only ever sees complete files. A consumer claims a message by renaming it into the
claimed folder (only one rename of a file can succeed) and deletes it only when the task is acknowledged. A
requeued or shutdown-restored message is put back as a new file before its claim is dropped, and a claim older
than the visibility timeout (a worker killed while holding it) is renamed back into the queue: like Redis, a
message is delivered at least once, twice only if its worker died or overran the timeout.

All folders must be on one filesystem (a rename across filesystems is a copy, not atomic); they are created next
to the queue folder.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from pathlib import Path
from queue import Empty
from typing import Any, cast

from kombu.transport import filesystem, virtual
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)

# How often a consumer looks for claims left by a dead worker, at most.
EXPIRED_CLAIMS_SCAN_SECONDS = 30.0


def message_name(queue: str) -> str:
    """Names sort in publish order (nanoseconds since the epoch, zero-padded) and end in ``.<queue>.msg``, the
    form kombu's filesystem transport reads."""
    return f"{time.time_ns():020d}_{uuid.uuid4().hex}.{queue}.msg"


def claim_name(name: str, claimed_at_ns: int) -> str:
    return f"{claimed_at_ns:020d}-{name}"


def claim_parts(claim: str) -> tuple[int, str] | None:
    """The claim time and the message's name in the queue folder, from a claimed file's name."""
    claimed_at, _, name = claim.partition("-")
    return (int(claimed_at), name) if claimed_at.isdigit() and name else None


def directory_fsync(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def file_write_durably(path: Path, data: bytes) -> None:
    with path.open("xb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


class QoS(virtual.QoS):
    """Drops a message's claimed file once it is acknowledged or rejected (a requeue has put it back first)."""

    def ack(self, delivery_tag: str) -> None:
        super().ack(delivery_tag)
        cast(Channel, self.channel).claim_release(delivery_tag)

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        super().reject(delivery_tag, requeue=requeue)
        cast(Channel, self.channel).claim_release(delivery_tag)


class Channel(filesystem.Channel):
    QoS = QoS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._claims: dict[str, Path] = {}
        self._expired_claims_scanned_at: float | None = None
        for folder in (self.queue_folder, self.staging_folder, self.claimed_folder, self.rejected_folder):
            folder.mkdir(parents=True, exist_ok=True)

    @property
    def queue_folder(self) -> Path:
        return Path(self.data_folder_in)

    @property
    def staging_folder(self) -> Path:
        return self.queue_folder.parent / "staging"

    @property
    def claimed_folder(self) -> Path:
        return self.queue_folder.parent / "claimed"

    @property
    def rejected_folder(self) -> Path:
        return self.queue_folder.parent / "rejected"

    @property
    def visibility_timeout(self) -> float:
        return float(self.transport_options.get("visibility_timeout", 3600))

    # The signature of kombu.transport.filesystem's _put, which its type stubs call incompatible with the base's.
    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[override]
        name = message_name(queue)
        staged = self.staging_folder / name
        file_write_durably(staged, dumps(payload).encode())
        staged.rename(self.queue_folder / name)
        directory_fsync(self.queue_folder)

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        self._expired_claims_restore()
        suffix = f"{queue}.msg"
        for name in sorted(os.listdir(self.queue_folder)):
            if name.partition(".")[2] != suffix:
                continue
            claimed = self.claimed_folder / claim_name(name, time.time_ns())
            try:
                (self.queue_folder / name).rename(claimed)
            except FileNotFoundError:
                continue  # another consumer claimed it first
            payload = self._claimed_payload(claimed)
            if payload is not None:
                self._claims[payload["properties"]["delivery_tag"]] = claimed
                return payload
        raise Empty()

    def _claimed_payload(self, claimed: Path) -> dict[str, Any] | None:
        """The message in ``claimed``; a file that is not one (never written by this transport) is set aside in
        the rejected folder instead of stopping the worker."""
        try:
            payload = loads(claimed.read_bytes().decode())
        except ValueError:
            payload = None
        if isinstance(payload, dict) and "delivery_tag" in payload.get("properties", {}):
            return payload
        claimed.rename(self.rejected_folder / claimed.name.partition("-")[2])
        logger.error("broker: a file in the queue folder is not a message; moved to %s", self.rejected_folder)
        return None

    def _restore(self, message: Any) -> None:
        super()._restore(message)
        self.claim_release(message.delivery_tag)

    def claim_release(self, delivery_tag: str) -> None:
        claimed = self._claims.pop(delivery_tag, None)
        if claimed is not None:
            claimed.unlink(missing_ok=True)

    def _expired_claims_restore(self) -> None:
        """Put back into the queue the messages claimed longer ago than the visibility timeout: their worker died
        without acknowledging them (a running task is stopped by its time limit well before)."""
        now = time.monotonic()
        if self._expired_claims_scanned_at is not None and now - self._expired_claims_scanned_at < min(
            EXPIRED_CLAIMS_SCAN_SECONDS, self.visibility_timeout
        ):
            return
        self._expired_claims_scanned_at = now
        oldest_live_claim_ns = time.time_ns() - int(self.visibility_timeout * 1e9)
        for claim in os.listdir(self.claimed_folder):
            parts = claim_parts(claim)
            if parts is None or parts[0] > oldest_live_claim_ns:
                continue
            name = parts[1]
            try:
                (self.claimed_folder / claim).rename(self.queue_folder / name)
            except FileNotFoundError:
                continue  # acknowledged or restored meanwhile
            logger.warning("broker: a message claimed by a worker that died is back in its queue")


class Transport(filesystem.Transport):
    Channel = Channel
    global_state = virtual.BrokerState()
    driver_type = "filesystem"
    driver_name = "gateway-filesystem"

    @property
    def default_connection_params(self) -> dict[str, Any]:
        return {"port": self.default_port}  # no host to connect to (kombu would warn it reverts to localhost)
