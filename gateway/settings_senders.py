"""The two senders' settings: outbound messages (messaging/outbound/dispatch/) and event deliveries (events/).

gateway/settings.py imports every name of ``__all__``; the event delivery's SSRF guard stays there, since it
depends on the environment (production or not).
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from gateway.env import env_float, env_int, env_list

__all__ = [
    "GATEWAY_EVENTS_BUSY_DELAY_SECONDS",
    "GATEWAY_EVENTS_CONNECT_TIMEOUT",
    "GATEWAY_EVENTS_DISABLE_AFTER_HOURS",
    "GATEWAY_EVENTS_LEASE_SECONDS",
    "GATEWAY_EVENTS_READ_TIMEOUT",
    "GATEWAY_EVENTS_RELAY_BATCH",
    "GATEWAY_EVENTS_REPUBLISH_SECONDS",
    "GATEWAY_EVENTS_RETRY_AFTER_MAX_SECONDS",
    "GATEWAY_EVENTS_RETRY_SCHEDULE",
    "GATEWAY_SEND_BACKOFF_MAX_SECONDS",
    "GATEWAY_SEND_BACKOFF_SECONDS",
    "GATEWAY_SEND_LEASE_SECONDS",
    "GATEWAY_SEND_MAX_TRANSIENT_ATTEMPTS",
    "GATEWAY_SEND_PAIR_BURST",
    "GATEWAY_SEND_PAIR_PERIOD_SECONDS",
    "GATEWAY_SEND_RATE_GUARD_MS",
    "GATEWAY_SEND_TIMEOUT",
    "GATEWAY_SEND_UNCONFIRMED_SILENCE",
    "GATEWAY_WINDOW_CLOSING_NOTICE_MINUTES",
]

# --- Outbound sends (messaging/outbound/dispatch/) -----------------------------------------------------------
# The read timeout of a Graph send: past it the outcome is unknown and the message waits for a status webhook.
GATEWAY_SEND_TIMEOUT = env_int("GATEWAY_SEND_TIMEOUT", 20, minimum=1, maximum=120)
# How long a worker holds a message it sends (at least the timeouts plus a margin): a killed worker's
# message stays `sending` this long, then counts as unconfirmed.
GATEWAY_SEND_LEASE_SECONDS = env_int("GATEWAY_SEND_LEASE_SECONDS", 60, minimum=5, maximum=3600)
# An unconfirmed send is resent only after this many seconds without a status webhook carrying our id.
GATEWAY_SEND_UNCONFIRMED_SILENCE = env_int("GATEWAY_SEND_UNCONFIRMED_SILENCE", 120, minimum=1, maximum=86_400)
# Transient failures (and unknown outcomes) a message may have before it fails; throttling never counts.
GATEWAY_SEND_MAX_TRANSIENT_ATTEMPTS = env_int("GATEWAY_SEND_MAX_TRANSIENT_ATTEMPTS", 8, minimum=1, maximum=100)
# Backoff after a transient failure: up to this many seconds at first, doubling each time (full jitter), capped.
GATEWAY_SEND_BACKOFF_SECONDS = env_int("GATEWAY_SEND_BACKOFF_SECONDS", 2, minimum=1, maximum=600)
GATEWAY_SEND_BACKOFF_MAX_SECONDS = env_int("GATEWAY_SEND_BACKOFF_MAX_SECONDS", 900, minimum=1, maximum=86_400)
# Meta's pair rate: about one message every 6 s to the same WhatsApp user, with a small burst.
GATEWAY_SEND_PAIR_PERIOD_SECONDS = env_int("GATEWAY_SEND_PAIR_PERIOD_SECONDS", 6, minimum=0, maximum=3600)
GATEWAY_SEND_PAIR_BURST = env_int("GATEWAY_SEND_PAIR_BURST", 3, minimum=1, maximum=100)
# A send granted this close to the end of a second also counts against the next one (core/ratelimit.py):
# the longest expected time from the grant to Meta receiving the request (network, a busy worker's CPU).
GATEWAY_SEND_RATE_GUARD_MS = env_int("GATEWAY_SEND_RATE_GUARD_MS", 250, minimum=0, maximum=999)
# conversation.window_closing is recorded this many minutes before a conversation's reply window closes.
GATEWAY_WINDOW_CLOSING_NOTICE_MINUTES = env_int("GATEWAY_WINDOW_CLOSING_NOTICE_MINUTES", 60, minimum=1, maximum=1380)

# --- Event delivery to the tenants' endpoints (events/) ----------------------------------------------------
# Timeouts of one delivery POST (seconds; fractions allowed): past the read timeout the attempt fails and is retried.
GATEWAY_EVENTS_CONNECT_TIMEOUT = env_float("GATEWAY_EVENTS_CONNECT_TIMEOUT", 5.0, minimum=0.05, maximum=60)
GATEWAY_EVENTS_READ_TIMEOUT = env_float("GATEWAY_EVENTS_READ_TIMEOUT", 15.0, minimum=0.05, maximum=120)
# How long a worker holds a delivery it is attempting: past it (a killed worker) the relay takes it back.
GATEWAY_EVENTS_LEASE_SECONDS = env_int("GATEWAY_EVENTS_LEASE_SECONDS", 60, minimum=1, maximum=3600)
if GATEWAY_EVENTS_LEASE_SECONDS <= GATEWAY_EVENTS_CONNECT_TIMEOUT + GATEWAY_EVENTS_READ_TIMEOUT:
    # A lease shorter than an attempt would hand a delivery still being attempted to a second worker.
    raise ImproperlyConfigured("GATEWAY_EVENTS_LEASE_SECONDS must exceed the events connect and read timeouts")
# Delays before each retry, seconds (±20 % jitter), close to the Standard Webhooks schedule: about 2.1 days in all.
# A delivery failing once more than the list is long ends failed.
GATEWAY_EVENTS_RETRY_SCHEDULE = [
    float(value) for value in env_list("GATEWAY_EVENTS_RETRY_SCHEDULE", "5,300,1800,7200,18000,36000,50400,72000")
]
if any(not 0 <= step <= 30 * 86_400 for step in GATEWAY_EVENTS_RETRY_SCHEDULE):
    raise ImproperlyConfigured("GATEWAY_EVENTS_RETRY_SCHEDULE must list seconds between 0 and 30 days")
# The longest Retry-After (429, 503) honoured; a longer one is cut to this.
GATEWAY_EVENTS_RETRY_AFTER_MAX_SECONDS = env_int("GATEWAY_EVENTS_RETRY_AFTER_MAX_SECONDS", 3600, minimum=1)
# A delivery that finds its endpoint at max_in_flight goes back to wait this long (not counted as an attempt).
GATEWAY_EVENTS_BUSY_DELAY_SECONDS = env_float("GATEWAY_EVENTS_BUSY_DELAY_SECONDS", 1.0, minimum=0.0, maximum=60)
# A due delivery published longer ago than this and still pending is published again by the relay.
GATEWAY_EVENTS_REPUBLISH_SECONDS = env_float("GATEWAY_EVENTS_REPUBLISH_SECONDS", 30.0, minimum=0.0, maximum=3600)
# Deliveries the relay publishes per run, at most.
GATEWAY_EVENTS_RELAY_BATCH = env_int("GATEWAY_EVENTS_RELAY_BATCH", 2000, minimum=1, maximum=100_000)
# An endpoint failing without a success for this long is disabled, with an audit event and a warning.
GATEWAY_EVENTS_DISABLE_AFTER_HOURS = env_int("GATEWAY_EVENTS_DISABLE_AFTER_HOURS", 72, minimum=1, maximum=24 * 90)
