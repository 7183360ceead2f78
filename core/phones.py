"""Phone numbers in international form, without Django: the providers check a send's recipient with it
and the blind indexes normalise the numbers they match, so both read a number the same way."""

from __future__ import annotations

import re

E164_DIGITS = re.compile(r"^\d{8,15}$")
PHONE_PUNCTUATION = re.compile(r"[\s().\-/]")


def normalize_e164(value: str) -> str:
    """``+1 (650) 555-1234`` / ``0016505551234`` / ``16505551234`` (a wa_id) → ``+16505551234``."""
    compact = PHONE_PUNCTUATION.sub("", value.strip())
    if compact.startswith("+"):
        compact = compact[1:]
    elif compact.startswith("00"):
        compact = compact[2:]
    if not E164_DIGITS.match(compact) or compact.startswith("0"):
        raise ValueError("not a phone number in international form (8 to 15 digits with a country code)")
    return f"+{compact}"
