"""The Prometheus endpoint's settings (docs/metrics.md).

gateway/settings.py imports every name of ``__all__``.
"""

from __future__ import annotations

from gateway.env import env_str

__all__ = ["GATEWAY_METRICS_TOKEN"]

# The bearer token a scraper sends to GET /metrics (or GATEWAY_METRICS_TOKEN_FILE). Unset: /metrics answers 404 in
# production and serves everyone in development.
GATEWAY_METRICS_TOKEN = env_str("GATEWAY_METRICS_TOKEN")
