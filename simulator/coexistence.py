"""Coexistence webhooks on demand: what Meta sends for a number that is also on the WhatsApp Business app.

``POST /_sim/coexistence/echoes``, ``/history`` and ``/state_sync`` each queue one signed webhook, in the shapes
of Meta's reference (``smb_message_echoes``, ``history``, ``smb_app_state_sync``), to the channel's webhook URL.
A number that sends them is on the app: the simulator marks it ``coexistence`` (20 messages per second from
then on), as Meta's onboarding does.
"""

from __future__ import annotations

import math
import time
from typing import Any

from aiohttp import web

from simulator.control import (
    SENDER,
    STATE,
    ControlError,
    channel_get,
    control_view,
    flag,
    integer,
    json_body,
    string_list,
    text,
)
from simulator.state import COEXISTENCE_MPS, WHATSAPP, Channel, SimulatorState
from simulator.webhooks import whatsapp_envelope

DEFAULT_USER = "16505551234"
MAX_ITEMS = 10_000
DAY_SECONDS = 86_400
MESSAGE_SPACING_SECONDS = 60
DECLINED_ERROR = {
    "code": 2593109,
    "title": "History sync is turned off by the business from the WhatsApp Business App",
    "message": "History sync is turned off by the business from the WhatsApp Business App",
    "error_data": {"details": "History sync is turned off by the business from the WhatsApp Business App"},
}


async def _request(request: web.Request) -> tuple[SimulatorState, Channel, dict[str, Any]]:
    state = request.app[STATE]
    data = await json_body(request)
    if not isinstance(data, dict):
        raise ControlError("the body must be a JSON object")
    channel = channel_get(state, text(data, "provider_id"))
    if channel.platform != WHATSAPP:
        raise ControlError("coexistence webhooks are sent for WhatsApp numbers only")
    if channel.webhook_url is None:
        raise ControlError("the channel has no webhook_url")
    if not channel.is_coexistence:
        channel.is_coexistence = True
        channel.mps = min(channel.mps, COEXISTENCE_MPS)
        state.channel_add(channel)  # its limiters now count 20 per second
    return state, channel, data


def _queue(request: web.Request, channel: Channel, field: str, value: dict[str, Any], items: int) -> None:
    request.app[SENDER].submit(channel, whatsapp_envelope(channel, value, field=field), items=items)


def _users(data: dict[str, Any]) -> list[str]:
    return string_list(data, "users") if "users" in data else [DEFAULT_USER]


async def echoes_post(request: web.Request) -> web.Response:
    """``{"provider_id", "users"?: [...], "count"?: 1, "text"?}``: messages the business typed in the app."""
    state, channel, data = await _request(request)
    users = _users(data)
    count = integer(data, "count", 1, minimum=1, maximum=MAX_ITEMS)
    body = text(data, "text", default="Sent from the WhatsApp Business app")
    now = int(time.time())
    echoes = []
    for index in range(count):
        user = users[index % len(users)]
        echoes.append({
            "from": channel.display_phone_number,
            "to": f"+{user}",  # as Meta's reference writes it
            "id": state.ids.wamid(user),
            "timestamp": str(now),
            "type": "text",
            "text": {"body": f"{body} {index + 1}" if count > 1 else body},
        })  # fmt: skip
    _queue(request, channel, "smb_message_echoes", {"message_echoes": echoes}, len(echoes))
    return web.json_response({"queued": len(echoes), "ids": [echo["id"] for echo in echoes]}, status=202)


async def history_post(request: web.Request) -> web.Response:
    """``{"provider_id", "users"?, "messages"?: 2, "days_ago"?: 1, "phase"?: 0, "declined"?: false}``: one chunk
    of the app's past chats, each thread alternating the user's messages and the business's replies, the
    oldest ``days_ago`` days back; or, declined, the error Meta sends instead."""
    state, channel, data = await _request(request)
    phase = integer(data, "phase", 0, minimum=0, maximum=2)
    if flag(data, "declined", False):
        _queue(request, channel, "history", {"history": [{"errors": [DECLINED_ERROR]}]}, 1)
        return web.json_response({"queued": 1, "ids": []}, status=202)
    per_thread = integer(data, "messages", 2, minimum=1, maximum=MAX_ITEMS)
    start = int(time.time()) - integer(data, "days_ago", 1, minimum=0, maximum=3650) * DAY_SECONDS
    threads: dict[str, list[dict[str, Any]]] = {
        user: [_history_message(state, channel, user, index, start) for index in range(per_thread)]
        for user in _users(data)
    }
    chunk = {
        "metadata": {"phase": phase, "chunk_order": 1, "progress": 100},
        "threads": [{"id": user, "messages": messages} for user, messages in threads.items()],
    }
    ids = [message["id"] for messages in threads.values() for message in messages]
    _queue(request, channel, "history", {"history": [chunk]}, len(ids))
    return web.json_response({"queued": len(ids), "ids": ids}, status=202)


def _history_message(state: SimulatorState, channel: Channel, user: str, index: int, start: int) -> dict[str, Any]:
    from_business = index % 2 == 1
    message: dict[str, Any] = {"from": channel.display_phone_number if from_business else user}
    if from_business:
        message["to"] = user
    message |= {
        "id": state.ids.wamid(user),
        "timestamp": str(start + index * MESSAGE_SPACING_SECONDS),
        "type": "text",
        "text": {"body": f"Earlier {'reply' if from_business else 'question'} {math.ceil((index + 1) / 2)}"},
        "history_context": {"status": "DELIVERED" if from_business else "READ"},
    }
    return message


async def state_sync_post(request: web.Request) -> web.Response:
    """``{"provider_id", "contacts": [{"phone_number", "full_name"?, "first_name"?, "action"?: "add"}]}``:
    changes the business made to its app's address book."""
    _, channel, data = await _request(request)
    contacts = data.get("contacts")
    if not isinstance(contacts, list) or not contacts or len(contacts) > MAX_ITEMS:
        raise ControlError(f"contacts must be a list of 1 to {MAX_ITEMS} objects")
    now = str(int(time.time()))
    states = [_state(contact, now) for contact in contacts]
    _queue(request, channel, "smb_app_state_sync", {"state_sync": states}, len(states))
    return web.json_response({"queued": len(states)}, status=202)


def _state(contact: Any, now: str) -> dict[str, Any]:
    if not isinstance(contact, dict):
        raise ControlError("each contact must be a JSON object")
    action = text(contact, "action", default="add")
    if action not in ("add", "remove"):
        raise ControlError("action must be add or remove")
    shown: dict[str, Any] = {"phone_number": text(contact, "phone_number")}
    if action == "add":
        full_name = text(contact, "full_name", default="Simulated Contact")
        shown |= {"full_name": full_name, "first_name": text(contact, "first_name", default=full_name.split()[0])}
    return {"type": "contact", "contact": shown, "action": action, "metadata": {"timestamp": now}}


def routes_add(app: web.Application) -> None:
    for path, view in (
        ("/_sim/coexistence/echoes", echoes_post),
        ("/_sim/coexistence/history", history_post),
        ("/_sim/coexistence/state_sync", state_sync_post),
    ):
        app.router.add_post(path, control_view(view))
