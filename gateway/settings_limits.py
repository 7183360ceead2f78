"""The API's rate limits (docs/api.md, "Rate limits"): per API key and per tenant, by class of operation.

A rate is ``<requests>/<seconds>``. GATEWAY_RATE_LIMIT_<CLASS> sets a key's default (a key may carry its own,
set when it is issued), GATEWAY_TENANT_RATE_LIMIT_<CLASS> the tenant's (all its keys together). Bad values stop
the start (accounts.rate_limits checks them). gateway/settings.py imports every name of ``__all__``.
"""

from __future__ import annotations

from gateway.env import env_str

__all__ = [
    "API_RATE_LIMITS",
    "API_TENANT_RATE_LIMITS",
    "API_THROTTLE_CLASSES",
]

# Per API key: sends and reads per minute, exports and erasures per hour, other changes per minute.
_KEY_DEFAULTS = {"sends": "600/60", "exports": "10/3600", "erasures": "30/3600", "reads": "1200/60", "writes": "300/60"}
# Per tenant, over all its keys.
_TENANT_DEFAULTS = {
    "sends": "3000/60",
    "exports": "50/3600",
    "erasures": "100/3600",
    "reads": "6000/60",
    "writes": "1500/60",
}

API_RATE_LIMITS = {name: env_str(f"GATEWAY_RATE_LIMIT_{name.upper()}", rate) for name, rate in _KEY_DEFAULTS.items()}
API_TENANT_RATE_LIMITS = {
    name: env_str(f"GATEWAY_TENANT_RATE_LIMIT_{name.upper()}", rate) for name, rate in _TENANT_DEFAULTS.items()
}
API_THROTTLE_CLASSES = ["accounts.api_throttle.ApiRateThrottle"]
