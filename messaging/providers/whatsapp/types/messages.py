"""Inbound WhatsApp messages: the message, its context (reply, forward, product) and its ad referral."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Literal

from messaging.providers.items import GraphError
from messaging.providers.whatsapp.types.contents import MessageContent
from messaging.providers.whatsapp.types.items import WhatsAppItem


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferredProduct:
    catalog_id: str
    product_retailer_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageContext:
    """Reply (``message_id`` + ``sender``), forward flags, or a product enquiry."""

    message_id: str | None = None
    sender: str | None = None
    is_forwarded: bool = False
    is_frequently_forwarded: bool = False
    referred_product: ReferredProduct | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AdReferral:
    """Click-to-WhatsApp ad; ``ctwa_clid`` is absent for Status ads."""

    source_url: str | None = None
    source_id: str | None = None
    source_type: str | None = None
    body: str | None = None
    headline: str | None = None
    media_type: str | None = None
    image_url: str | None = None
    video_url: str | None = None
    thumbnail_url: str | None = None
    ctwa_clid: str | None = None
    welcome_message_text: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage(WhatsAppItem):
    """``wa_id`` is the sender's ``from``; it may be absent for users known only by BSUID ``user_id``."""

    kind: Literal["whatsapp.message"] = dataclass_field(default="whatsapp.message", init=False)
    id: str
    wa_id: str | None
    user_id: str | None = None
    parent_user_id: str | None = None
    profile_name: str | None = None
    timestamp: datetime
    type: str
    content: MessageContent
    context: MessageContext | None = None
    referral: AdReferral | None = None
    errors: tuple[GraphError, ...] = ()

    @property
    def sender_id(self) -> str:
        return self.wa_id or self.user_id or ""
