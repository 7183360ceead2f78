"""Signed webhooks back to the gateway: status updates after each accepted send, and generated inbound traffic.

A send never waits for a webhook: status events are timers that drop into a queue, and a fixed pool of
workers posts them over one keep-alive client session. A non-200 answer or a transport error is
retried with backoff, as Meta does; bodies are signed with the channel's app secret and serialised
the way Meta serialises them (``\\uXXXX`` escapes and ``\\/``), so the gateway must hash raw bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from simulator.failures import Failure
from simulator.identity import PHONE, User, contact, recipient_fields
from simulator.state import WHATSAPP, Channel

logger = logging.getLogger("simulator.webhooks")

STATUS_SENT = "sent"
STATUS_DELIVERED = "delivered"
STATUS_READ = "read"
STATUS_FAILED = "failed"
STATUS_ORDER = (STATUS_SENT, STATUS_DELIVERED, STATUS_READ)
USER_AGENT = "facebookexternalua"


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    concurrency: int = 32
    timeout_seconds: float = 10.0
    retry_delays: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0, 8.0)
    status_batch_max: int = 1


@dataclass(frozen=True, slots=True)
class SentMessage:
    """What a status webhook needs to know about one accepted send."""

    channel: Channel
    message_id: str
    recipient_id: str
    callback_data: str | None
    is_template: bool
    user: User | None = None
    failure: Failure | None = None

    def statuses(self) -> tuple[str, ...]:
        """The statuses Meta posts for this send, in order: a failure replaces delivered and read."""
        if self.failure is None:
            return STATUS_ORDER
        return (STATUS_SENT, STATUS_FAILED) if self.failure.after_sent else (STATUS_FAILED,)


@dataclass(slots=True)
class Delivery:
    """One webhook POST: the exact bytes, kept for every retry, and the channel that signs them."""

    channel: Channel
    body: bytes
    items: int
    epoch: int
    attempt: int = 0


@dataclass(slots=True)
class WebhookStats:
    posts_ok: int = 0
    posts_failed: int = 0
    given_up: int = 0
    items_delivered: int = 0
    by_http_status: Counter[str] = field(default_factory=Counter)


def meta_json(payload: dict[str, Any]) -> bytes:
    """JSON as Meta sends it: compact, non-ASCII as lowercase ``\\uXXXX``, and ``/`` escaped."""
    return json.dumps(payload, separators=(",", ":")).replace("/", "\\/").encode()


def signature_headers(body: bytes, app_secret: str) -> dict[str, str]:
    key = app_secret.encode()
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Hub-Signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
        "X-Hub-Signature": "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest(),
    }


def whatsapp_envelope(channel: Channel, value: dict[str, Any], *, field: str = "messages") -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": channel.display_phone_number, "phone_number_id": channel.provider_id},
        **value,
    }
    return {"object": "whatsapp_business_account", "entry": [{"id": channel.waba_id, "changes": [
        {"value": value, "field": field}
    ]}]}  # fmt: skip


def messaging_envelope(channel: Channel, items: list[dict[str, Any]]) -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    page_object = "instagram" if channel.platform == "instagram" else "page"
    return {"object": page_object, "entry": [{"id": channel.provider_id, "time": now_ms, "messaging": items}]}


def whatsapp_status(message: SentMessage, status: str, at: float) -> dict[str, Any]:
    item: dict[str, Any] = {"id": message.message_id, "status": status, "timestamp": str(int(at))}
    if message.user is None:
        item["recipient_id"] = message.recipient_id
    else:
        item.update(recipient_fields(message.user, message.channel.identity))
    if message.callback_data is not None:
        item["biz_opaque_callback_data"] = message.callback_data
    if status == STATUS_FAILED and message.failure is not None:
        item["errors"] = [message.failure.error()]
    elif status != STATUS_READ:
        category = "utility" if message.is_template else "service"
        pricing_type = "regular" if message.is_template else "free_customer_service"
        item["pricing"] = {"billable": message.is_template, "pricing_model": "PMP", "type": pricing_type}
        item["pricing"]["category"] = category
    return item


def status_contacts(channel: Channel, messages: list[SentMessage]) -> list[dict[str, Any]]:
    """The ``contacts[]`` of a status webhook in the new identity shapes: one row per user, in order."""
    if channel.identity == PHONE:
        return []
    users = dict.fromkeys(message.user for message in messages if message.user is not None)
    return [contact(user, channel.identity) for user in users]


def messaging_status(message: SentMessage, status: str, at: float) -> dict[str, Any]:
    at_ms = int(at * 1000)
    item: dict[str, Any] = {
        "sender": {"id": message.recipient_id},
        "recipient": {"id": message.channel.provider_id},
        "timestamp": at_ms,
    }
    if status == STATUS_DELIVERED:
        item["delivery"] = {"mids": [message.message_id], "watermark": at_ms}
    elif message.channel.platform == "instagram":
        item["read"] = {"mid": message.message_id}
    else:
        item["read"] = {"watermark": at_ms}
    return item


class WebhookSender:
    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        self.stats = WebhookStats()
        self.epoch = 0
        self.scheduled = 0
        self.retrying = 0
        self.in_flight = 0
        self.pending: dict[int, deque[tuple[SentMessage, str, float]]] = {}
        self.queue: asyncio.Queue[Delivery | Channel] = asyncio.Queue()
        self.workers: list[asyncio.Task[None]] = []
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.settings.concurrency, keepalive_timeout=30)
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_seconds)
        self.session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        self.workers = [asyncio.create_task(self._work()) for _ in range(self.settings.concurrency)]

    async def stop(self) -> None:
        for worker in self.workers:
            worker.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)
        if self.session is not None:
            await self.session.close()

    def clear(self) -> None:
        """Drop everything not yet posted and the counters (a reset): older timers and retries become no-ops."""
        self.epoch += 1
        self.stats = WebhookStats()
        self.pending.clear()
        while not self.queue.empty():
            self.queue.get_nowait()
            self.queue.task_done()

    @property
    def is_idle(self) -> bool:
        has_pending = any(self.pending.values())
        return not (self.scheduled or self.retrying or self.in_flight or has_pending or self.queue.qsize())

    def public(self) -> dict[str, object]:
        return {
            "idle": self.is_idle,
            "posts_ok": self.stats.posts_ok,
            "posts_failed": self.stats.posts_failed,
            "given_up": self.stats.given_up,
            "items_delivered": self.stats.items_delivered,
            "by_http_status": dict(self.stats.by_http_status),
            "queued": self.queue.qsize(),
            "scheduled": self.scheduled,
            "retrying": self.retrying,
            "in_flight": self.in_flight,
        }

    def statuses_schedule(self, message: SentMessage) -> None:
        """Post sent, delivered and read (or failed) for an accepted send after the channel's delays.

        Messenger and Instagram have no ``sent``; a failure marked for the recipient replaces the rest.
        """
        delays = message.channel.status_delays_ms
        if delays is None or message.channel.webhook_url is None:
            return
        loop = asyncio.get_running_loop()
        for status, delay_ms in zip(message.statuses(), delays, strict=False):
            if status == STATUS_SENT and message.channel.platform != WHATSAPP:
                continue
            self.scheduled += 1
            loop.call_later(delay_ms / 1000, self._status_ready, self.epoch, message, status)

    def _status_ready(self, epoch: int, message: SentMessage, status: str) -> None:
        self.scheduled -= 1
        if epoch != self.epoch:
            return
        key = id(message.channel)
        pending = self.pending.setdefault(key, deque())
        pending.append((message, status, time.time()))
        if len(pending) == 1:
            self.queue.put_nowait(message.channel)

    def submit(self, channel: Channel, payload: dict[str, Any], *, items: int) -> None:
        """Queue one signed POST of ``payload`` to the channel's webhook URL."""
        if channel.webhook_url is None:
            return
        self.queue.put_nowait(Delivery(channel, meta_json(payload), items, self.epoch))

    def _status_delivery(self, channel: Channel) -> Delivery | None:
        pending = self.pending.get(id(channel))
        if not pending:
            return None
        taken = [pending.popleft() for _ in range(min(len(pending), self.settings.status_batch_max))]
        if pending:
            self.queue.put_nowait(channel)
        if channel.platform == WHATSAPP:
            statuses = [whatsapp_status(message, status, at) for message, status, at in taken]
            contacts = status_contacts(channel, [message for message, _, _ in taken])
            payload = whatsapp_envelope(
                channel, {"contacts": contacts, "statuses": statuses} if contacts else {"statuses": statuses}
            )
        else:
            payload = messaging_envelope(
                channel, [messaging_status(message, status, at) for message, status, at in taken]
            )
        return Delivery(channel, meta_json(payload), len(taken), self.epoch)

    async def _work(self) -> None:
        while True:
            job = await self.queue.get()
            try:
                delivery = job if isinstance(job, Delivery) else self._status_delivery(job)
                if delivery is not None and delivery.epoch == self.epoch:
                    await self._post(delivery)
            except Exception:
                logger.exception("webhook worker failed")
            finally:
                self.queue.task_done()

    async def _post(self, delivery: Delivery) -> None:
        assert self.session is not None  # noqa: S101 - start() runs before any request is served
        url = delivery.channel.webhook_url
        if url is None:
            return
        headers = signature_headers(delivery.body, delivery.channel.app_secret)
        self.in_flight += 1
        try:
            async with self.session.post(url, data=delivery.body, headers=headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        finally:
            self.in_flight -= 1
        self.stats.by_http_status[str(status)] += 1
        if status == 200:  # noqa: PLR2004 - Meta treats anything but 200 as a failure
            self.stats.posts_ok += 1
            self.stats.items_delivered += delivery.items
            return
        self.stats.posts_failed += 1
        self._retry(delivery)

    def _retry(self, delivery: Delivery) -> None:
        if delivery.attempt >= len(self.settings.retry_delays):
            self.stats.given_up += 1
            return
        delay = self.settings.retry_delays[delivery.attempt]
        delivery.attempt += 1
        self.retrying += 1
        asyncio.get_running_loop().call_later(delay, self._retry_ready, delivery)

    def _retry_ready(self, delivery: Delivery) -> None:
        self.retrying -= 1
        if delivery.epoch == self.epoch:
            self.queue.put_nowait(delivery)
