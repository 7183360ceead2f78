"""What the messaging lists show for a row instead of its id: the contact's name and a masked phone number or
platform id, and a message's preview. A preview is the message's type and the length of its text, never its
words: reading the words is the reveal flow's (a step-up and a reason, audited), so a list never shows more.

The sealed values a page needs are opened per row, after their keys are loaded in one query for the page
(one subject key per contact), so a page costs the same number of queries whatever its length."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Model

from accounts.admin_encrypted import UNREADABLE
from core.phones import normalize_e164
from encryption import keyring
from encryption.envelope import key_id_of
from encryption.errors import DecryptionError
from encryption.fields import Sealed
from messaging.models import Contact, Message, Platform
from messaging.selectors import message_open

HIDDEN = "•••"
NAMED_HEADING = "admin/messaging/named_heading.html"  # a change page titled by its row's name (subtitle)
EXPIRED = "expired (retention)"
# ITU country calling codes are prefix-free: these are the one- and two-digit ones, every other is three.
SHORT_COUNTRY_CODES = frozenset(
    {"1", "7"}
    | {"20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47", "48", "49"}
    | {"51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66", "81", "82", "84"}
    | {"86", "90", "91", "92", "93", "94", "95", "98"}
)


def country_code(digits: str) -> str:
    for length in (1, 2):
        if digits[:length] in SHORT_COUNTRY_CODES:
            return digits[:length]
    return digits[:3]


def masked_handle(external_id: str, *, platform: str) -> str:
    """``+44 •••• ••89`` for a phone number: its country code and last two digits; ``•••• ••42`` for a PSID,
    an Instagram id or a business-scoped user id."""
    if platform == Platform.WHATSAPP:
        try:
            digits = normalize_e164(external_id).removeprefix("+")
        except ValueError:
            pass
        else:
            return f"+{country_code(digits)} •••• ••{digits[-2:]}"
    return f"•••• ••{external_id[-2:]}"


def profile_name(profile: Any) -> str:
    name = profile.get("name") if isinstance(profile, dict) else None
    return name.strip() if isinstance(name, str) else ""


def contact_label(contact: Contact) -> str:
    """``Ada · +44 •••• ••89``; a contact whose key was destroyed (erased) cannot be opened."""
    try:
        handle = masked_handle(contact.external_id, platform=contact.platform)
        name = profile_name(contact.profile)
    except (DecryptionError, ValueError):
        return UNREADABLE
    return f"{name} · {handle}" if name else handle


def message_preview(message: Message) -> str:
    """``text, 42 characters``: the type and the length of its text; expired content says so."""
    opened = message_open(message=message)
    if opened.is_content_expired:
        return EXPIRED
    if opened.is_content_unavailable:
        return UNREADABLE
    public = opened.public
    text = public.text or ""
    return f"{public.type}, {len(text)} characters" if text else str(public.type)


def sealed_keys_prefetch(rows: Iterable[Model], field_names: Iterable[str]) -> None:
    """Load the keys of these rows' sealed values in one query (a value that is no envelope is left to fail)."""
    names = list(field_names)
    key_ids = set()
    for row in rows:
        for name in names:
            value = row.__dict__.get(name)
            if isinstance(value, Sealed):  # not opened yet (an opened bytes field holds plain bytes)
                try:
                    key_ids.add(key_id_of(value))
                except DecryptionError:
                    continue
    keyring.ciphers_prefetch(key_ids)
