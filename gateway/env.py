"""Tiny helpers that read settings from the environment.

Every secret can also come from a file: ``NAME_FILE=/run/secrets/name`` wins over ``NAME``.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


def env_str(name: str, default: str = "") -> str:
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            return Path(file_path).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ImproperlyConfigured(f"{name}_FILE={file_path} cannot be read: {error.strerror}") from None
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name, "1" if default else "0").strip().lower()
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name} must be one of {sorted(TRUE_WORDS | FALSE_WORDS - {''})}, got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = env_str(name, str(default)).strip()
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {value}")
    return value


def env_float(name: str, default: float, *, minimum: float, maximum: float) -> float:
    raw = env_str(name, str(default)).strip()
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ImproperlyConfigured(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def env_secret(
    name: str, *, dev_file: Path | None, is_production: bool, generate: Callable[[], str] | None = None
) -> str:
    """A secret from ``NAME`` / ``NAME_FILE``; outside production, a generated file under var/.

    In production an unset secret stays empty so that the system checks refuse to start.
    """
    value = env_str(name)
    if value or is_production or dev_file is None:
        return value
    return dev_secret_file(dev_file, generate or (lambda: secrets.token_urlsafe(48)))


def new_root_key_entry(version: int = 1) -> str:
    """One root key version in the GATEWAY_ROOT_KEYS format: ``<version>:<base64url of 32 random bytes>``."""
    return f"{version}:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip('=')}"


def new_signing_key() -> str:
    """An Ed25519 signing key in the GATEWAY_AUDIT_SIGNING_KEY format: base64url of a random 32-byte seed."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def dev_secret_file(path: Path, generate: Callable[[], str]) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(generate() + "\n")
    try:
        os.link(draft, path)  # atomic: two processes starting together agree on one secret
        print(f"WARNING: generated a development secret at {path}. Never use it in production.", file=sys.stderr)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text(encoding="utf-8").strip()
