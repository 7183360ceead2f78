"""Who a WhatsApp user is to the simulator: a phone number, a business-scoped user id (BSUID), or both.

Meta's 2026 identity shapes add a BSUID (``user_id``, e.g. ``US.13491208655302741918``) to every
``contacts[]`` row of a webhook, let a business send to ``recipient`` (a BSUID) instead of ``to`` (a
phone number), and answer a send with ``contacts[].user_id``. A channel speaks one of three shapes:

* ``phone`` — the pre-2026 shapes: ``wa_id`` only, statuses without ``contacts[]``, no ``recipient``;
* ``bsuid`` — both: ``contacts[]`` with ``wa_id`` and ``user_id`` in inbound and status webhooks;
* ``bsuid_only`` — users who hide their number (usernames): ``user_id`` without ``wa_id``, messages
  with ``from_user_id`` instead of ``from`` and statuses with ``recipient_user_id`` instead of ``recipient_id``.

A BSUID is derived from the WhatsApp Business Account and the phone number, so it is stable per
business and differs between businesses, like Meta's.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

PHONE = "phone"
BSUID = "bsuid"
BSUID_ONLY = "bsuid_only"
IDENTITIES = frozenset({PHONE, BSUID, BSUID_ONLY})
BSUID_PATTERN = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[0-9A-Za-z]{6,64}")
BSUID_DIGITS = 20


@dataclass(frozen=True, slots=True)
class User:
    """One WhatsApp user as a send or a webhook names them; ``key`` is what windows and limits count by."""

    wa_id: str | None
    user_id: str | None

    @property
    def key(self) -> str:
        return self.wa_id or self.user_id or ""


def bsuid_for(waba_id: str, wa_id: str) -> str:
    digest = hashlib.sha256(f"{waba_id}:{wa_id}".encode()).digest()
    return f"US.{int.from_bytes(digest[:10], 'big') % 10**BSUID_DIGITS:0{BSUID_DIGITS}d}"


def parent_bsuid_for(waba_id: str, wa_id: str) -> str:
    return "US.ENT." + bsuid_for(f"parent:{waba_id}", wa_id)[3:]


def is_bsuid(value: str) -> bool:
    return BSUID_PATTERN.fullmatch(value) is not None


class Directory:
    """The BSUIDs the simulator has handed out, so a send to a BSUID reaches the same user as one to their number."""

    def __init__(self) -> None:
        self.phones: dict[str, str] = {}

    def user_for_phone(self, waba_id: str, wa_id: str) -> User:
        user_id = bsuid_for(waba_id, wa_id)
        self.phones[user_id] = wa_id
        return User(wa_id=wa_id, user_id=user_id)

    def user_for_bsuid(self, user_id: str) -> User:
        return User(wa_id=self.phones.get(user_id), user_id=user_id)


def contact(user: User, identity: str, *, name: str | None = None) -> dict[str, Any]:
    """A webhook's ``contacts[]`` row for ``user`` in the channel's identity shape."""
    row: dict[str, Any] = {"profile": {"name": name}} if name is not None else {}
    if identity == BSUID_ONLY and name is not None:
        row["profile"]["username"] = "@" + name.lower().replace(" ", "_")
    if identity != BSUID_ONLY and user.wa_id is not None:
        row["wa_id"] = user.wa_id
    if identity != PHONE and user.user_id is not None:
        row["user_id"] = user.user_id
    return row


def answer_contact(user_input: str, user: User, identity: str) -> dict[str, str]:
    """The send answer's ``contacts[]`` row: ``input`` as given, ``wa_id`` and, in the new shapes, ``user_id``."""
    row = {"input": user_input}
    if user.wa_id is not None and identity != BSUID_ONLY:
        row["wa_id"] = user.wa_id
    if identity != PHONE and user.user_id is not None:
        row["user_id"] = user.user_id
    return row


def sender_fields(user: User, identity: str) -> dict[str, str]:
    """An inbound message's ``from`` / ``from_user_id``."""
    fields: dict[str, str] = {}
    if identity != BSUID_ONLY and user.wa_id is not None:
        fields["from"] = user.wa_id
    if identity != PHONE and user.user_id is not None:
        fields["from_user_id"] = user.user_id
    return fields


def recipient_fields(user: User, identity: str) -> dict[str, str]:
    """A status's ``recipient_id`` / ``recipient_user_id``."""
    fields: dict[str, str] = {}
    if identity != BSUID_ONLY and user.wa_id is not None:
        fields["recipient_id"] = user.wa_id
    if identity != PHONE and user.user_id is not None:
        fields["recipient_user_id"] = user.user_id
    return fields
