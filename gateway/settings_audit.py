"""The audit log's keys, its signed checkpoints and its pruning (docs/audit.md).

gateway/settings.py imports every name of ``__all__``. The environment and the var folder are read here the same
way settings.py reads them, so the development secrets land in the same folder.
"""

from __future__ import annotations

from pathlib import Path

from gateway.env import env_int, env_list, env_secret, env_str, new_signing_key

__all__ = [
    "GATEWAY_AUDIT_CHECKPOINT_DIR",
    "GATEWAY_AUDIT_CHECKPOINT_PUBLIC_KEYS",
    "GATEWAY_AUDIT_KEY",
    "GATEWAY_AUDIT_OPERATOR_DAYS",
    "GATEWAY_AUDIT_PRUNE_DB_ALIAS",
    "GATEWAY_AUDIT_SIGNING_KEY",
]

_IS_PRODUCTION = env_str("GATEWAY_ENV", "development") == "production"
_VAR_DIR = Path(env_str("GATEWAY_VAR_DIR") or Path(__file__).resolve().parent.parent / "var")
_DEV_SECRETS_DIR = None if _IS_PRODUCTION else _VAR_DIR / "secrets"


def _dev_file(name: str) -> Path | None:
    return _DEV_SECRETS_DIR / name if _DEV_SECRETS_DIR else None


# Key for the audit hash chain (HMAC), so that a database-only attacker cannot forge events.
GATEWAY_AUDIT_KEY = env_secret("GATEWAY_AUDIT_KEY", dev_file=_dev_file("audit_key"), is_production=_IS_PRODUCTION)
# Ed25519 key (base64url of its 32-byte seed) that signs the chains' checkpoints; `audit checkpoint-key` prints the
# public half for verifiers outside.
GATEWAY_AUDIT_SIGNING_KEY = env_secret(
    "GATEWAY_AUDIT_SIGNING_KEY",
    dev_file=_dev_file("audit_signing_key"),
    is_production=_IS_PRODUCTION,
    generate=new_signing_key,
)
# The public keys of earlier signing keys (comma-separated, as `audit checkpoint-key` printed them), so that the
# checkpoints they signed still verify after a rotation.
GATEWAY_AUDIT_CHECKPOINT_PUBLIC_KEYS = env_list("GATEWAY_AUDIT_CHECKPOINT_PUBLIC_KEYS")
# Where checkpoints are exported, one write-once file each. In production, storage the database's operators cannot
# rewrite (a WORM bucket mount, another host's share).
GATEWAY_AUDIT_CHECKPOINT_DIR = Path(env_str("GATEWAY_AUDIT_CHECKPOINT_DIR") or _VAR_DIR / "audit-checkpoints")
# The database connection the prune deletes through: a role allowed to delete audit rows. With DATABASE_OPERATOR_URL
# set, the operator role's connection (docs/isolation.md); the application's role may only append.
GATEWAY_AUDIT_PRUNE_DB_ALIAS = env_str(
    "GATEWAY_AUDIT_PRUNE_DB_ALIAS", "operator" if env_str("DATABASE_OPERATOR_URL", "") else "default"
)
# How long the operator chain keeps its events (tenant chains follow their retention policy's audit_days); the
# bounds are the policy's (policies.retention.validation).
GATEWAY_AUDIT_OPERATOR_DAYS = env_int("GATEWAY_AUDIT_OPERATOR_DAYS", 2555, minimum=365, maximum=3650)
