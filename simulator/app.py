"""Graph API routes: sends (WhatsApp, Messenger, Instagram) and media, with limits and injected faults.

The send path is the hot path of every benchmark: one dict lookup for the channel, one JSON parse,
plain checks, counters, and a timer for the status webhooks. Nothing on it waits for anything else.
"""

from __future__ import annotations

import asyncio
import math
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import BodyPartReader, web

from simulator import accounts, coexistence, control, identity, receiver, templates
from simulator.control import SENDER, STATE
from simulator.graph import bodies, errors, messenger, nodes, whatsapp
from simulator.graph.errors import GraphError
from simulator.identity import PHONE
from simulator.receiver import EventReceiver
from simulator.state import MEDIA_URL_SECONDS, WHATSAPP, Channel, Fault, FaultPlan, Media, SimulatorState
from simulator.webhooks import SentMessage, WebhookSender, WebhookSettings

MEDIA_MAX_BYTES = 100 * 1024 * 1024
MEDIA_PATH = "/whatsapp_business/attachments/"
HOLD_POLL_SECONDS = 0.1
JSON = "application/json"
GRAPH_METHODS = frozenset({"GET", "POST", "DELETE"})


def json_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=JSON)


def error_response(state: SimulatorState, error: GraphError) -> web.Response:
    state.ledger.errors[str(error.code)] += 1
    return json_response(error.body(), error.http_status)


def request_token(request: web.Request) -> str | None:
    authorization = request.headers.get("Authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return request.query.get("access_token") or None


def channel_for_node(state: SimulatorState, node: str, token: str | None) -> Channel | GraphError:
    """The channel a Graph call addresses: by id (``/<id>/...``) or by page token (``/me/...``)."""
    channel = state.channels_by_token.get(token) if node == "me" and token else state.channels.get(node)
    if channel is not None and token == channel.access_token:
        return channel
    if channel is None and node != "me" and any(known.access_token == token for known in state.channels.values()):
        return errors.unknown_node(node)
    return errors.bad_token()


async def messages_post(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    channel = channel_for_node(state, request.match_info["node"], request_token(request))
    if isinstance(channel, GraphError):
        return error_response(state, channel)
    body = await request.read()
    plan = state.faults_for(channel)
    if plan is None:
        return messages_answer(request, state, channel, body)

    async def answer() -> web.Response:
        return messages_answer(request, state, channel, body)

    return await with_faults(request, state, plan, answer)


def messages_answer(request: web.Request, state: SimulatorState, channel: Channel, body: bytes) -> web.Response:
    payload = bodies.parse_json_object(body)
    if payload is None:
        return error_response(state, errors.invalid_parameter("The request body must be a JSON object."))
    if channel.platform == WHATSAPP:
        return whatsapp_send(request, state, channel, payload)
    return messenger_send(request, state, channel, payload)


async def with_faults(
    request: web.Request, state: SimulatorState, plan: FaultPlan | None, answer: Callable[[], Awaitable[web.Response]]
) -> web.StreamResponse:
    """Answer with ``answer()``, unless the fault plan draws a failure before or after it (sends and media alike)."""
    fault = plan.draw() if plan is not None else None
    if fault is None or plan is None:
        return await answer()
    if not fault.is_after_accept:
        return await fault_apply(request, state, plan, fault, None)
    return await fault_apply(request, state, plan, fault, await answer())


def whatsapp_send(
    request: web.Request, state: SimulatorState, channel: Channel, payload: dict[str, Any]
) -> web.Response:
    parsed = whatsapp.whatsapp_parse(payload, accepts_bsuid=channel.identity != PHONE)
    if isinstance(parsed, GraphError):
        return error_response(state, parsed)
    if isinstance(parsed, whatsapp.WhatsAppMarkRead):
        return mark_read(state, channel, parsed)
    user = send_user(state, channel, parsed)
    now = time.time()
    refused = (
        templates.send_refusal(request.app, channel, payload)
        if parsed.is_template
        else (None if state.is_window_open(channel, user.key, now) else errors.outside_window())
    )
    if refused is not None:
        return error_response(state, refused)
    pairs = state.pairs[channel.provider_id]
    if not pairs.has_token(user.key, now):
        return error_response(state, errors.pair_rate_reached())
    throughput = state.throughput[channel.provider_id]
    if not throughput.has_room(now):
        return error_response(state, errors.throughput_reached())
    pairs.take(user.key, now)
    throughput.record(now)
    state.ledger.record_accepted(parsed.callback_data)
    wamid = state.ids.wamid(user.key)
    if channel.status_delays_ms is not None:
        failure = state.failures.failure_for(channel.provider_id, user.wa_id, user.user_id)
        message = SentMessage(channel, wamid, user.key, parsed.callback_data, parsed.is_template, user, failure)
        request.app[SENDER].statuses_schedule(message)
    contact = identity.answer_contact(parsed.recipient, user, channel.identity)
    message_status = "accepted" if parsed.is_template else None
    return json_response(whatsapp.whatsapp_success(contact=contact, wamid=wamid, message_status=message_status))


def mark_read(state: SimulatorState, channel: Channel, parsed: whatsapp.WhatsAppMarkRead) -> web.Response:
    """Only a message this number received can be marked as read, as on the Cloud API."""
    if not state.is_inbound(channel, parsed.message_id):
        return error_response(state, errors.invalid_read_receipt(parsed.message_id))
    state.ledger.marked_read += 1
    return json_response(b'{"success":true}')


def send_user(state: SimulatorState, channel: Channel, parsed: whatsapp.WhatsAppSend) -> identity.User:
    """The user a send reaches: by phone number (and its BSUID), or by a BSUID the simulator may know the number of."""
    if parsed.wa_id is not None and channel.identity == PHONE:
        return identity.User(wa_id=parsed.wa_id, user_id=None)
    if parsed.wa_id is not None:
        return state.directory.user_for_phone(channel.waba_id, parsed.wa_id)
    return state.directory.user_for_bsuid(parsed.user_id or "")


def messenger_send(
    request: web.Request, state: SimulatorState, channel: Channel, payload: dict[str, Any]
) -> web.Response:
    parsed = messenger.messenger_parse(payload, platform=channel.platform)
    if isinstance(parsed, GraphError):
        return error_response(state, parsed)
    if parsed.is_sender_action:
        state.ledger.sender_actions += 1
        return json_response(messenger.messenger_success(recipient_id=parsed.recipient_id, message_id=None))
    now = time.time()
    is_tagged = parsed.messaging_type == "MESSAGE_TAG"
    if not is_tagged and not state.is_window_open(channel, parsed.recipient_id, now):
        return error_response(state, errors.messenger_outside_window())
    throughput = state.throughput[channel.provider_id]
    if not throughput.has_room(now):
        return error_response(state, errors.messenger_rate_limited())
    throughput.record(now)
    state.ledger.record_accepted(parsed.metadata)
    mid = state.ids.messenger_mid()
    if channel.status_delays_ms is not None:
        message = SentMessage(channel, mid, parsed.recipient_id, parsed.metadata, is_template=False)
        request.app[SENDER].statuses_schedule(message)
    return json_response(messenger.messenger_success(recipient_id=parsed.recipient_id, message_id=mid))


async def fault_apply(
    request: web.Request, state: SimulatorState, plan: FaultPlan, fault: Fault, response: web.Response | None
) -> web.StreamResponse:
    """Fail the request as configured; ``response`` is the real answer when the send was already accepted."""
    state.ledger.faults[fault.value] += 1
    if fault is Fault.SERVER_ERROR:
        return json_response(errors.server_error(plan.server_error_status).body(), plan.server_error_status)
    if fault in (Fault.RESET, Fault.ACCEPTED_RESET):
        return connection_reset(request)
    if not await hold(request, plan.timeout_seconds):
        return connection_reset(request)
    if response is not None:
        return response
    return json_response(errors.server_error(504).body(), 504)


async def hold(request: web.Request, seconds: float | None) -> bool:
    """Wait ``seconds`` (None: until the client gives up); False when the client went away first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (math.inf if seconds is None else seconds)
    while (remaining := deadline - loop.time()) > 0:
        transport = request.transport
        if transport is None or transport.is_closing():
            return False
        await asyncio.sleep(min(HOLD_POLL_SECONDS, remaining))
    return True


def connection_reset(request: web.Request) -> web.StreamResponse:
    """Close the connection with a TCP reset and no response, like a proxy dropping it."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    # Nothing can be written any more; aiohttp discards a response for a lost connection.
    return web.Response(status=499)


async def media_upload(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    channel = channel_for_node(state, request.match_info["node"], request_token(request))
    if isinstance(channel, GraphError):
        return error_response(state, channel)
    return await with_faults(request, state, state.faults_for(channel), lambda: media_store(request, channel))


async def media_store(request: web.Request, channel: Channel) -> web.Response:
    state = request.app[STATE]
    if not request.content_type.startswith("multipart/"):
        return error_response(state, errors.invalid_parameter("The upload must be multipart/form-data."))
    fields: dict[str, str] = {}
    file_content: bytes | None = None
    mime_type = "application/octet-stream"
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        if part.name == "file":
            file_content = await part.read()
            mime_type = part.headers.get("Content-Type", mime_type)
        else:
            fields[part.name] = (await part.read()).decode(errors="replace")
    if fields.get("messaging_product") != "whatsapp":
        return error_response(state, errors.invalid_parameter("The parameter messaging_product is required."))
    if not file_content:
        return error_response(state, errors.missing_parameter("Parameter 'file' is required."))
    media = state.media_add(owner=channel.provider_id, content=file_content, mime_type=fields.get("type", mime_type))
    return json_response(b'{"id":"%s"}' % media.media_id.encode())


def media_for(request: web.Request) -> Media | GraphError:
    state = request.app[STATE]
    media_id = request.match_info.get("media_id") or request.query.get("mid", "")
    media = state.media.get(media_id)
    token = request_token(request)
    if media is None:
        known = any(channel.access_token == token for channel in state.channels.values())
        return errors.media_not_found(media_id, request.method) if known else errors.bad_token()
    owner = state.channels.get(media.owner)
    if owner is None or token != owner.access_token:
        return errors.bad_token()
    return media


def faults_for_node(request: web.Request, node: str) -> FaultPlan | None:
    """The fault plan of the channel owning a media id, else of the channel the token belongs to, else global."""
    state = request.app[STATE]
    media = state.media.get(node)
    channel = state.channels.get(media.owner) if media is not None else None
    token = request_token(request)
    if channel is None and token is not None:
        channel = next((known for known in state.channels.values() if known.access_token == token), None)
    return state.faults_for(channel) if channel is not None else state.global_faults


async def node_get(request: web.Request) -> web.StreamResponse:
    """``GET /<id>``: a phone number or page the token owns, else a media object."""
    state = request.app[STATE]
    node = request.match_info["media_id"]
    if node in state.channels:
        return await with_faults(request, state, state.faults_for(state.channels[node]), lambda: channel_get(request))
    return await with_faults(request, state, faults_for_node(request, node), lambda: media_get(request))


async def channel_get(request: web.Request) -> web.Response:
    state = request.app[STATE]
    channel = channel_for_node(state, request.match_info["media_id"], request_token(request))
    if isinstance(channel, GraphError):
        return error_response(state, channel)
    node = nodes.phone_number_node(channel) if channel.platform == WHATSAPP else nodes.page_node(channel)
    fields = [name for name in request.query.get("fields", "").split(",") if name]
    if fields:
        node = {name: node[name] for name in ["id", *fields] if name in node}
    return web.json_response(node)


async def media_get(request: web.Request) -> web.Response:
    state = request.app[STATE]
    media = media_for(request)
    if isinstance(media, GraphError):
        return error_response(state, media)
    expires = int(time.time() + MEDIA_URL_SECONDS)
    url = f"{control.public_base(request)}{MEDIA_PATH}?mid={media.media_id}&ext={expires}"
    body = {
        "messaging_product": "whatsapp",
        "url": url,
        "mime_type": media.mime_type,
        "sha256": media.sha256,
        "file_size": str(len(media.content)),
        "id": media.media_id,
    }
    return web.json_response(body)


async def media_delete(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    plan = faults_for_node(request, request.match_info["media_id"])
    return await with_faults(request, state, plan, lambda: media_remove(request))


async def media_remove(request: web.Request) -> web.Response:
    state = request.app[STATE]
    media = media_for(request)
    if isinstance(media, GraphError):
        return error_response(state, media)
    del state.media[media.media_id]
    return json_response(b'{"success":true}')


async def media_download(request: web.Request) -> web.Response:
    """The lookaside URL: needs the same bearer token, and expires like Meta's (5 minutes)."""
    media = media_for(request)
    if isinstance(media, GraphError):
        status = 401 if media.code == 190 else 404  # noqa: PLR2004 - Graph code for a bad token
        return web.Response(status=status, text="Unauthorized" if status == 401 else "Not Found")  # noqa: PLR2004
    try:
        is_expired = int(request.query.get("ext", "0")) < time.time()
    except ValueError:
        is_expired = True
    if is_expired:
        return web.Response(status=404, text="URL signature expired")
    return web.Response(body=media.content, content_type=media.mime_type.split(";")[0])


async def cdn_download(request: web.Request) -> web.Response:
    """Messenger/Instagram attachment URLs: no token, like a CDN link."""
    media = request.app[STATE].media.get(request.match_info["media_id"])
    if media is None:
        return web.Response(status=404, text="Not Found")
    return web.Response(body=media.content, content_type=media.mime_type.split(";")[0])


async def graph_unknown_route(request: web.Request) -> web.Response:
    """Every path or method no other route serves answers Graph's JSON error shape, never a plain-text 404/405.

    A catch-all route rather than a middleware, so the hot send path pays nothing for it.
    """
    state = request.app[STATE]
    if request.method not in GRAPH_METHODS:
        return error_response(state, errors.unsupported_method(request.method, request.path))
    return error_response(state, errors.unknown_path(request.path))


async def on_startup(app: web.Application) -> None:
    await app[SENDER].start()


async def on_cleanup(app: web.Application) -> None:
    await app[SENDER].stop()


def build_app(
    *, state: SimulatorState, webhook_settings: WebhookSettings, event_receiver: EventReceiver | None = None
) -> web.Application:
    app = web.Application(client_max_size=MEDIA_MAX_BYTES + 1024 * 1024)
    app[STATE] = state
    app[SENDER] = WebhookSender(webhook_settings)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    control.routes_add(app)
    accounts.routes_add(app)
    coexistence.routes_add(app)
    receiver.routes_add(app, event_receiver or EventReceiver())
    templates.routes_add(app)
    app.router.add_get(MEDIA_PATH, media_download)
    app.router.add_get("/_cdn/{media_id}", cdn_download)
    app.router.add_post("/{version}/{node}/messages", messages_post)
    app.router.add_post("/{version}/{node}/media", media_upload)
    app.router.add_get("/{version}/{media_id}", node_get)
    app.router.add_delete("/{version}/{media_id}", media_delete)
    app.router.add_route("*", "/{tail:.*}", graph_unknown_route)
    return app
