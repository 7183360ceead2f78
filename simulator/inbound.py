"""Generated inbound traffic: user messages in the shapes of the captured fixtures, posted signed to the gateway.

Each generated message opens its sender's 24-hour window, so a reply to it is accepted afterwards.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from simulator.identity import User, contact, is_bsuid, sender_fields
from simulator.state import MEDIA_URL_SECONDS, WHATSAPP, WINDOW_SECONDS, Channel, Media, SimulatorState
from simulator.webhooks import WebhookSender, messaging_envelope, whatsapp_envelope

WHATSAPP_KINDS = frozenset({"text", "image", "location"})
MESSAGING_KINDS = frozenset({"text", "image"})
IMAGE_MIME_TYPE = "image/jpeg"
JPEG_MAGIC = b"\xff\xd8\xff\xe0"


@dataclass(frozen=True, slots=True)
class InboundPlan:
    count: int
    senders: list[str]
    batch: int
    kind: str
    text: str
    base_url: str


def default_senders(channel: Channel, count: int) -> list[str]:
    """Phone numbers (WhatsApp) or page-scoped ids (Messenger, Instagram), stable for a given count."""
    if channel.platform == WHATSAPP:
        return [f"1555{index:07d}" for index in range(1, count + 1)]
    return [str(7_000_000_000_000_000 + index) for index in range(1, count + 1)]


def inbound_generate(state: SimulatorState, sender: WebhookSender, channel: Channel, plan: InboundPlan) -> list[str]:
    """Queue ``plan.count`` messages in POSTs of ``plan.batch``; return the generated message ids in order."""
    now = time.time()
    state.window_open(channel, plan.senders, seconds=WINDOW_SECONDS)
    items = [_item(state, channel, plan, index, now) for index in range(plan.count)]
    for start in range(0, len(items), plan.batch):
        chunk = items[start : start + plan.batch]
        sender.submit(channel, _envelope(channel, chunk), items=len(chunk))
    return [message_id for message_id, _, _ in items]


def whatsapp_user(state: SimulatorState, channel: Channel, sender_id: str) -> User:
    """A generated sender: a phone number (with its BSUID) or, when given as one, a BSUID."""
    if is_bsuid(sender_id):
        return state.directory.user_for_bsuid(sender_id)
    return state.directory.user_for_phone(channel.waba_id, sender_id)


def _item(
    state: SimulatorState, channel: Channel, plan: InboundPlan, index: int, now: float
) -> tuple[str, User | None, dict[str, Any]]:
    user_key = plan.senders[index % len(plan.senders)]
    if channel.platform == WHATSAPP:
        user = whatsapp_user(state, channel, user_key)
        message_id = state.ids.wamid(user.key)
        state.inbound_record(channel, message_id)
        message: dict[str, Any] = {**sender_fields(user, channel.identity), "id": message_id}
        message |= {"timestamp": str(int(now)), "type": plan.kind}
        message[plan.kind] = _whatsapp_content(state, channel, plan, index)
        return message_id, user, message
    message_id = state.ids.messenger_mid()
    content: dict[str, Any] = {"mid": message_id}
    if plan.kind == "image":
        media = _media(state, channel, index)
        content["attachments"] = [{"type": "image", "payload": {"url": f"{plan.base_url}/_cdn/{media.media_id}"}}]
    else:
        content["text"] = f"{plan.text} {index + 1}"
    item = {"sender": {"id": user_key}, "recipient": {"id": channel.provider_id}, "timestamp": int(now * 1000)}
    return message_id, None, {**item, "message": content}


def _whatsapp_content(state: SimulatorState, channel: Channel, plan: InboundPlan, index: int) -> dict[str, Any]:
    if plan.kind == "text":
        return {"body": f"{plan.text} {index + 1}"}
    if plan.kind == "location":
        return {
            "latitude": 52.52 + index / 1000,
            "longitude": 13.405,
            "name": "Simulated place",
            "address": "1 Main St",
        }
    media = _media(state, channel, index)
    expires = int(time.time() + MEDIA_URL_SECONDS)
    return {
        "caption": f"{plan.text} {index + 1}",
        "mime_type": media.mime_type,
        "sha256": media.sha256,
        "id": media.media_id,
        "url": f"{plan.base_url}/whatsapp_business/attachments/?mid={media.media_id}&ext={expires}",
    }


def _media(state: SimulatorState, channel: Channel, index: int) -> Media:
    content = JPEG_MAGIC + f"simulated image {index + 1} {state.ids.run}".encode() * 8
    return state.media_add(owner=channel.provider_id, content=content, mime_type=IMAGE_MIME_TYPE)


def _envelope(channel: Channel, chunk: list[tuple[str, User | None, dict[str, Any]]]) -> dict[str, Any]:
    if channel.platform != WHATSAPP:
        return messaging_envelope(channel, [item for _, _, item in chunk])
    users = dict.fromkeys(user for _, user, _ in chunk if user is not None)
    contacts = [contact(user, channel.identity, name=f"Simulated {user.key[-4:]}") for user in users]
    return whatsapp_envelope(channel, {"contacts": contacts, "messages": [item for _, _, item in chunk]})
