"""Backup codes as typed and as stored: their shape and their salted hash (the device model checks a code with
these, ``accounts.mfa`` issues codes with them)."""

from __future__ import annotations

import hashlib

BACKUP_CODE_LENGTH = 12
BACKUP_CODE_ITERATIONS = 60_000


def normalize_backup_code(token: str) -> str:
    return "".join(character for character in token.lower() if character.isalnum())


def looks_like_backup_code(token: str) -> bool:
    return len(normalize_backup_code(token)) == BACKUP_CODE_LENGTH


def backup_code_hash(salt: str, code: str) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", code.encode(), bytes.fromhex(salt), BACKUP_CODE_ITERATIONS)
    return digest.hex()
