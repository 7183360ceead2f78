"""The control API under ``/_sim/``: tests and benchmarks set the simulator up and read its counters here.

Bad input gets a 400 with ``{"error": "..."}``; nothing here can answer 500 for a malformed body.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from simulator.failures import FAILURES
from simulator.identity import IDENTITIES, PHONE, is_bsuid
from simulator.inbound import MESSAGING_KINDS, WHATSAPP_KINDS, InboundPlan, default_senders, inbound_generate
from simulator.state import (
    COEXISTENCE_MPS,
    DEFAULT_MPS,
    PLATFORMS,
    WHATSAPP,
    WINDOW_SECONDS,
    Channel,
    Fault,
    FaultPlan,
    SimulatorState,
)
from simulator.webhooks import WebhookSender

Handler = Callable[[web.Request], Awaitable[web.Response]]
STATE = web.AppKey("state", SimulatorState)
SENDER = web.AppKey("sender", WebhookSender)
DEFAULT_STATUS_DELAYS_MS = (50.0, 150.0, 300.0)
DEFAULT_PAIR_PERIOD_SECONDS = 6.0
DEFAULT_PAIR_BURST = 45
MAX_INBOUND = 1_000_000
NON_DIGITS = re.compile(r"[^0-9]")


class ControlError(Exception):
    """A control request that cannot be applied; its message is the 400 answer."""


def public_base(request: web.Request) -> str:
    """The simulator's own base URL for media links: as configured, else the address the connection arrived on.

    Never the request's ``Host`` header: a link Meta hands out does not follow what the caller claims.
    """
    configured = request.app[STATE].public_url
    if configured:
        return configured.rstrip("/")
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    if not sockname:
        return f"{request.scheme}://127.0.0.1"
    host, port = sockname[0], sockname[1]
    return f"{request.scheme}://[{host}]:{port}" if ":" in host else f"{request.scheme}://{host}:{port}"


def text(data: dict[str, Any], key: str, *, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value:
        raise ControlError(f"{key} must be a non-empty string")
    return value


def optional_text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ControlError(f"{key} must be a string or null")
    return value or None


def number(data: dict[str, Any], key: str, default: float, *, minimum: float = 0.0, maximum: float = math.inf) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not minimum <= value <= maximum:
        raise ControlError(f"{key} must be a number between {minimum} and {maximum}")
    return float(value)


def integer(data: dict[str, Any], key: str, default: int, *, minimum: int = 0, maximum: int = 2**31) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ControlError(f"{key} must be an integer between {minimum} and {maximum}")
    return value


def flag(data: dict[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ControlError(f"{key} must be true or false")
    return value


def choice(data: dict[str, Any], key: str, default: str, choices: frozenset[str]) -> str:
    value = data.get(key, default)
    if value not in choices:
        raise ControlError(f"{key} must be one of {sorted(choices)}")
    return str(value)


def string_list(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(item, str) and item for item in value):
        raise ControlError(f"{key} must be a non-empty list of strings")
    return value


def status_delays(data: dict[str, Any]) -> tuple[float, float, float] | None:
    value = data.get("status_delays_ms", list(DEFAULT_STATUS_DELAYS_MS))
    if value is None or data.get("statuses") is False:
        return None
    if not isinstance(value, list) or len(value) != 3:  # noqa: PLR2004 - sent, delivered, read
        raise ControlError("status_delays_ms must be [sent, delivered, read] in milliseconds, or null")
    delays = [number({"delay": item}, "delay", 0.0, maximum=3_600_000) for item in value]
    return delays[0], delays[1], delays[2]


def channel_from_json(data: Any, *, default_identity: str = PHONE) -> Channel:
    if not isinstance(data, dict):
        raise ControlError("a channel must be a JSON object")
    platform = text(data, "platform", default=WHATSAPP)
    if platform not in PLATFORMS:
        raise ControlError(f"platform must be one of {sorted(PLATFORMS)}")
    provider_id = text(data, "provider_id")
    is_coexistence = flag(data, "coexistence", False)
    default_mps = COEXISTENCE_MPS if is_coexistence else DEFAULT_MPS[platform]
    return Channel(
        platform=platform,
        provider_id=provider_id,
        access_token=text(data, "access_token"),
        app_secret=text(data, "app_secret"),
        webhook_url=optional_text(data, "webhook_url"),
        waba_id=text(data, "waba_id", default=f"WABA{provider_id}"),
        display_phone_number=text(data, "display_phone_number", default="15550000000"),
        mps=integer(data, "mps", default_mps, minimum=1, maximum=10_000_000),
        pair_period_seconds=number(data, "pair_period_seconds", DEFAULT_PAIR_PERIOD_SECONDS, maximum=86_400),
        pair_burst=integer(data, "pair_burst", DEFAULT_PAIR_BURST, minimum=1, maximum=1_000_000),
        is_coexistence=is_coexistence,
        enforces_window=flag(data, "enforce_window", True),
        status_delays_ms=status_delays(data),
        identity=choice(data, "identity", default_identity, IDENTITIES),
    )


def fault_plan_from_json(data: dict[str, Any]) -> FaultPlan:
    rates = {fault: number(data, f"{fault.value}_rate", 0.0, maximum=1.0) for fault in Fault}
    if sum(rates.values()) > 1.0 + 1e-9:
        raise ControlError("the fault rates must add up to at most 1")
    timeout = data.get("timeout_seconds", 30.0)
    timeout_seconds = None if timeout is None else number(data, "timeout_seconds", 30.0, maximum=86_400)
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ControlError("seed must be an integer or null")
    return FaultPlan(
        rates={fault: rate for fault, rate in rates.items() if rate > 0},
        timeout_seconds=timeout_seconds,
        server_error_status=integer(data, "server_error_status", 500, minimum=500, maximum=599),
        seed=seed,
    )


def config_apply(state: SimulatorState, data: Any) -> None:
    """Load a configuration document: ``{"channels": [...], "faults": {...} | [...]}`` (both optional)."""
    if not isinstance(data, dict):
        raise ControlError("the configuration must be a JSON object")
    channels = data.get("channels", [])
    if not isinstance(channels, list):
        raise ControlError("channels must be a list")
    for channel in channels:
        state.channel_add(channel_from_json(channel, default_identity=state.default_identity))
    faults = data.get("faults", [])
    for plan in faults if isinstance(faults, list) else [faults]:
        faults_set(state, plan)


def faults_set(state: SimulatorState, data: Any) -> dict[str, object]:
    if not isinstance(data, dict):
        raise ControlError("faults must be a JSON object")
    plan = fault_plan_from_json(data)
    provider_id = optional_text(data, "provider_id")
    if provider_id is None:
        state.global_faults = plan
    else:
        channel_get(state, provider_id)
        state.channel_faults[provider_id] = plan
    return {"provider_id": provider_id, **plan.public()}


def recipient_key(recipient: str) -> str:
    """A recipient as sends are counted: a BSUID as given, a phone number as its digits."""
    return recipient if is_bsuid(recipient) else NON_DIGITS.sub("", recipient)


def channel_get(state: SimulatorState, provider_id: str) -> Channel:
    channel = state.channels.get(provider_id)
    if channel is None:
        raise ControlError(f"unknown channel {provider_id}")
    return channel


async def json_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"{}")
    except ValueError as error:
        raise ControlError("the body must be JSON") from error


def control_view(view: Handler) -> Handler:
    async def wrapper(request: web.Request) -> web.Response:
        try:
            return await view(request)
        except ControlError as error:
            return web.json_response({"error": str(error)}, status=400)

    return wrapper


def routes_add(app: web.Application) -> None:  # noqa: PLR0915 - one closure per route, read top to bottom
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "channels": len(request.app[STATE].channels)})

    async def channels_post(request: web.Request) -> web.Response:
        data = await json_body(request)
        items = data.get("channels") if isinstance(data, dict) and "channels" in data else [data]
        identity = request.app[STATE].default_identity
        items = items if isinstance(items, list) else [items]
        channels = [channel_from_json(item, default_identity=identity) for item in items]
        for channel in channels:
            request.app[STATE].channel_add(channel)
        return web.json_response({"channels": [channel.public() for channel in channels]}, status=201)

    async def channels_get(request: web.Request) -> web.Response:
        return web.json_response({"channels": [c.public() for c in request.app[STATE].channels.values()]})

    async def channels_delete(request: web.Request) -> web.Response:
        request.app[STATE].reset()
        request.app[SENDER].clear()
        return web.json_response({"reset": True})

    async def faults_post(request: web.Request) -> web.Response:
        return web.json_response(faults_set(request.app[STATE], await json_body(request)))

    async def faults_get(request: web.Request) -> web.Response:
        state = request.app[STATE]
        channels = {provider_id: plan.public() for provider_id, plan in state.channel_faults.items()}
        global_plan = state.global_faults.public() if state.global_faults is not None else None
        return web.json_response({"global": global_plan, "channels": channels})

    async def faults_delete(request: web.Request) -> web.Response:
        state = request.app[STATE]
        state.global_faults = None
        state.channel_faults.clear()
        return web.json_response({"cleared": True})

    async def windows_post(request: web.Request) -> web.Response:
        state = request.app[STATE]
        data = await json_body(request)
        if not isinstance(data, dict):
            raise ControlError("the body must be a JSON object")
        channel = channel_get(state, text(data, "provider_id"))
        recipients = string_list(data, "recipients")
        if flag(data, "open", True):
            state.window_open(channel, recipients, seconds=number(data, "seconds", WINDOW_SECONDS, maximum=10**9))
        else:
            state.window_close(channel, recipients)
        return web.json_response({"provider_id": channel.provider_id, "recipients": len(recipients)})

    async def windows_get(request: web.Request) -> web.Response:
        state = request.app[STATE]
        channel = channel_get(state, request.query.get("provider_id", ""))
        return web.json_response({"provider_id": channel.provider_id, "open": state.windows[channel.provider_id]})

    async def failures_post(request: web.Request) -> web.Response:
        state = request.app[STATE]
        data = await json_body(request)
        if not isinstance(data, dict):
            raise ControlError("the body must be a JSON object")
        channel = channel_get(state, text(data, "provider_id"))
        if channel.platform != WHATSAPP:
            raise ControlError("failed statuses exist on WhatsApp channels only")
        code = data.get("code")
        failure = FAILURES.get(code) if isinstance(code, int) and not isinstance(code, bool) else None
        if failure is None:
            raise ControlError(f"code must be one of {sorted(FAILURES)}")
        recipients = [recipient_key(recipient) for recipient in string_list(data, "recipients")]
        state.failures.mark(channel.provider_id, recipients, failure)
        return web.json_response({"provider_id": channel.provider_id, "recipients": recipients, "code": code})

    async def failures_get(request: web.Request) -> web.Response:
        return web.json_response({"failures": request.app[STATE].failures.public()})

    async def failures_delete(request: web.Request) -> web.Response:
        request.app[STATE].failures.clear()
        return web.json_response({"cleared": True})

    async def sends_get(request: web.Request) -> web.Response:
        state = request.app[STATE]
        ledger = state.ledger
        body: dict[str, object] = {
            "accepted_total": ledger.accepted_total,
            "untagged": ledger.untagged,
            "duplicates": ledger.duplicates,
            "errors": dict(ledger.errors),
            "faults": dict(ledger.faults),
            "marked_read": ledger.marked_read,
            "sender_actions": ledger.sender_actions,
            "per_second": state.histogram(),
            "max_per_second": {key: max(counts.values(), default=0) for key, counts in state.histogram().items()},
        }
        if request.query.get("ids", "true") != "false":
            body["by_id"] = ledger.by_id
        return web.json_response(body)

    async def sends_delete(request: web.Request) -> web.Response:
        request.app[STATE].reset_counters()
        return web.json_response({"reset": True})

    async def sink_post(request: web.Request) -> web.Response:
        """Accept any webhook with 200, counting it: a cheap receiver for capacity runs."""
        await request.read()
        request.app[STATE].sink_received += 1
        return web.Response(text="ok")

    async def sink_get(request: web.Request) -> web.Response:
        return web.json_response({"received": request.app[STATE].sink_received})

    async def webhooks_get(request: web.Request) -> web.Response:
        return web.json_response(request.app[SENDER].public())

    async def inbound_post(request: web.Request) -> web.Response:
        state = request.app[STATE]
        data = await json_body(request)
        if not isinstance(data, dict):
            raise ControlError("the body must be a JSON object")
        channel = channel_get(state, text(data, "provider_id"))
        if channel.webhook_url is None:
            raise ControlError("the channel has no webhook_url")
        plan = inbound_plan(channel, data, base_url=public_base(request))
        ids = inbound_generate(state, request.app[SENDER], channel, plan)
        return web.json_response(
            {"queued": len(ids), "posts": math.ceil(len(ids) / plan.batch), "ids": ids}, status=202
        )

    for method, path, view in (
        ("GET", "/_sim/health", health),
        ("POST", "/_sim/channels", channels_post),
        ("GET", "/_sim/channels", channels_get),
        ("DELETE", "/_sim/channels", channels_delete),
        ("POST", "/_sim/faults", faults_post),
        ("GET", "/_sim/faults", faults_get),
        ("DELETE", "/_sim/faults", faults_delete),
        ("POST", "/_sim/windows", windows_post),
        ("GET", "/_sim/windows", windows_get),
        ("POST", "/_sim/failures", failures_post),
        ("GET", "/_sim/failures", failures_get),
        ("DELETE", "/_sim/failures", failures_delete),
        ("GET", "/_sim/sends", sends_get),
        ("DELETE", "/_sim/sends", sends_delete),
        ("GET", "/_sim/webhooks", webhooks_get),
        ("POST", "/_sim/inbound", inbound_post),
        ("POST", "/_sim/sink", sink_post),
        ("GET", "/_sim/sink", sink_get),
    ):
        app.router.add_route(method, path, control_view(view))


def inbound_plan(channel: Channel, data: dict[str, Any], *, base_url: str) -> InboundPlan:
    count = integer(data, "count", 1, minimum=1, maximum=MAX_INBOUND)
    kind = text(data, "type", default="text")
    kinds = WHATSAPP_KINDS if channel.platform == WHATSAPP else MESSAGING_KINDS
    if kind not in kinds:
        raise ControlError(f"type must be one of {sorted(kinds)} for {channel.platform}")
    senders = data.get("sender_ids")
    if senders is not None:
        senders = string_list(data, "sender_ids")
    else:
        senders = default_senders(channel, integer(data, "senders", 1, minimum=1, maximum=MAX_INBOUND))
    batch = integer(data, "batch", 1, minimum=1, maximum=1000)
    return InboundPlan(count, senders, batch, kind, text(data, "text", default="Simulated message"), base_url)
