"""Run the Meta simulator: ``python -m simulator --host 127.0.0.1 --port 8899 [--config file.json]``."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from simulator.app import build_app
from simulator.control import SENDER, STATE, ControlError, choice, config_apply
from simulator.identity import IDENTITIES, PHONE
from simulator.receiver import EventReceiver, ReceiverError
from simulator.state import SimulatorState
from simulator.webhooks import WebhookSettings

logger = logging.getLogger("simulator")
STATS_INTERVAL_SECONDS = 60.0
# Held (timeout-fault) requests would otherwise keep a stopping simulator alive for a minute.
SHUTDOWN_SECONDS = 2.0

DESCRIPTION = """\
A stand-in for Meta's Graph API (WhatsApp Cloud API, Messenger and Instagram Send API) with realistic
limits, errors and signed webhooks. Point the gateway's Graph base URL at it. Set it up over its control
API under /_sim/ (see simulator/README.md) or with --config: a JSON file
{"channels": [...], "faults": {...}, "webhooks": {...}} using the same fields as the control API.
"""


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=DESCRIPTION)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8899, help="port to listen on; 0 picks a free one (default: 8899)")
    parser.add_argument("--config", type=Path, help="JSON file with channels, faults and webhook settings")
    parser.add_argument("--public-url", help="base URL for media links, if clients reach the simulator elsewhere")
    parser.add_argument(
        "--sliding-window",
        action="store_true",
        help="enforce the per-number limit over any 1 s (default: per wall-clock second, like the histogram)",
    )
    parser.add_argument(
        "--identity",
        choices=sorted(IDENTITIES),
        help="identity shape of WhatsApp channels that do not name one: phone (pre-2026, default), bsuid, bsuid_only",
    )
    parser.add_argument("--webhook-concurrency", type=int, help="concurrent webhook POSTs (default: 32)")
    parser.add_argument("--status-batch", type=int, help="status updates per webhook POST (default: 1)")
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    return parser.parse_args(argv)


def config_load(path: Path | None) -> dict[str, Any]:
    config = json.loads(path.read_text()) if path is not None else {}
    if not isinstance(config, dict):
        raise ControlError("the configuration must be a JSON object")
    return config


def webhook_settings(config: dict[str, Any], options: argparse.Namespace) -> WebhookSettings:
    section = config.get("webhooks", {})
    if not isinstance(section, dict):
        raise ControlError("webhooks must be a JSON object")
    defaults = WebhookSettings()
    delays = section.get("retry_delays", list(defaults.retry_delays))
    if not isinstance(delays, list) or not all(isinstance(delay, (int, float)) and delay >= 0 for delay in delays):
        raise ControlError("webhooks.retry_delays must be a list of seconds")
    settings = WebhookSettings(
        concurrency=options.webhook_concurrency or int(section.get("concurrency", defaults.concurrency)),
        timeout_seconds=float(section.get("timeout_seconds", defaults.timeout_seconds)),
        retry_delays=tuple(float(delay) for delay in delays),
        status_batch_max=options.status_batch or int(section.get("status_batch_max", defaults.status_batch_max)),
    )
    if settings.concurrency < 1 or settings.status_batch_max < 1 or settings.timeout_seconds <= 0:
        raise ControlError("webhook concurrency, status batch and timeout must be positive")
    return settings


def event_receiver(config: dict[str, Any]) -> EventReceiver:
    """The demo's event receiver, with the secrets of ``event_receiver.secrets`` (none: every delivery is refused)."""
    section = config.get("event_receiver", {})
    if not isinstance(section, dict):
        raise ControlError("event_receiver must be a JSON object")
    receiver = EventReceiver()
    receiver.configure(section.get("secrets", []), section.get("recent_kept"))
    return receiver


async def stats_log(app: web.Application) -> None:
    """One line a minute, so a long benchmark shows it is alive and how much it did."""
    previous = 0
    while True:
        await asyncio.sleep(STATS_INTERVAL_SECONDS)
        ledger, sender = app[STATE].ledger, app[SENDER]
        logger.info(
            "accepted=%d (+%d/min) errors=%s faults=%s duplicates=%d webhooks_ok=%d failed=%d given_up=%d queued=%d",
            ledger.accepted_total,
            ledger.accepted_total - previous,
            dict(ledger.errors),
            dict(ledger.faults),
            len(ledger.duplicates),
            sender.stats.posts_ok,
            sender.stats.posts_failed,
            sender.stats.given_up,
            sender.queue.qsize(),
        )
        previous = ledger.accepted_total


async def serve(app: web.Application, *, host: str, port: int) -> None:
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_SECONDS)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    # Tests and scripts read this first line to learn the port chosen for --port 0.
    print(f"simulator listening on http://{bound_host}:{bound_port}", flush=True)  # noqa: T201
    # Startup objects never die: keep them out of every collection, and collect less often under load.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    stats = asyncio.create_task(stats_log(app))
    await stop.wait()
    logger.info("stopping")
    stats.cancel()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    options = arguments(argv)
    logging.basicConfig(level=options.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        config = config_load(options.config)
        public_url = options.public_url or config.get("public_url")
        is_sliding = options.sliding_window or config.get("throughput_window") == "sliding"
        identity = choice(
            {"identity": options.identity or config.get("identity", PHONE)}, "identity", PHONE, IDENTITIES
        )
        state = SimulatorState(is_sliding_window=is_sliding, public_url=public_url, default_identity=identity)
        config_apply(state, config)
        app = build_app(
            state=state, webhook_settings=webhook_settings(config, options), event_receiver=event_receiver(config)
        )
    except (OSError, ValueError, ControlError, ReceiverError) as error:
        print(f"simulator: bad configuration: {error}", file=sys.stderr)  # noqa: T201
        return 2
    asyncio.run(serve(app, host=options.host, port=options.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
