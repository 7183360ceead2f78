"""Coexistence (a number also used in the WhatsApp Business app): echoes, history and the address book."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Literal

from messaging.providers.whatsapp.types.contents import MessageContent
from messaging.providers.whatsapp.types.items import WhatsAppItem


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEcho(WhatsAppItem):
    """``smb_message_echoes``: a message the business sent from the WhatsApp Business app or a linked device.
    ``to`` is the user's number as digits (Meta may write it ``+16505551234``)."""

    kind: Literal["whatsapp.echo"] = dataclass_field(default="whatsapp.echo", init=False)
    id: str
    to: str
    timestamp: datetime
    type: str
    content: MessageContent

    @property
    def is_echo(self) -> bool:
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryChunk:
    """Where a ``history`` webhook sits in the import: ``phase`` 0-2, ``chunk_order``, overall ``progress`` %."""

    phase: int | None
    chunk_order: int | None
    progress: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryProgress(WhatsAppItem):
    """Where one ``history`` webhook sits in the import, with how many threads and messages it carries."""

    kind: Literal["whatsapp.history_progress"] = dataclass_field(default="whatsapp.history_progress", init=False)
    chunk: HistoryChunk
    threads: int
    messages: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryMessage(WhatsAppItem):
    """One message of a ``history`` thread (the chat with ``thread_id``), sent by the user or, when
    ``from_business``, by the business from its app; ``status`` is ``history_context.status`` as sent."""

    kind: Literal["whatsapp.history"] = dataclass_field(default="whatsapp.history", init=False)
    id: str
    thread_id: str
    from_business: bool
    timestamp: datetime
    type: str
    content: MessageContent
    status: str | None
    chunk: HistoryChunk


@dataclass(frozen=True, slots=True, kw_only=True)
class AddressBookEntry(WhatsAppItem):
    """``smb_app_state_sync`` ``contact``: the business added or edited (``add``) or removed (``remove``) a
    number in its app's address book; the names are absent on a removal."""

    kind: Literal["whatsapp.address_book"] = dataclass_field(default="whatsapp.address_book", init=False)
    wa_id: str
    action: str
    full_name: str | None
    first_name: str | None
    timestamp: datetime

    @property
    def is_removal(self) -> bool:
        return self.action == "remove"
