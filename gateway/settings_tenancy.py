"""The database roles behind row-level security (docs/isolation.md): ``manage.py db_roles`` creates them.

gateway/settings.py imports every name of ``__all__``.
"""

from __future__ import annotations

from gateway.env import env_str

__all__ = ["GATEWAY_DB_APP_ROLE", "GATEWAY_DB_OPERATOR_ROLE"]

# The role DATABASE_URL logs in as in production: owns no table, bypasses no policy, appends to the audit log only.
GATEWAY_DB_APP_ROLE = env_str("GATEWAY_DB_APP_ROLE", "gateway_app")
# The role of explicit operator jobs that need more (pruning the audit log); it bypasses no policy either.
GATEWAY_DB_OPERATOR_ROLE = env_str("GATEWAY_DB_OPERATOR_ROLE", "gateway_operator")
