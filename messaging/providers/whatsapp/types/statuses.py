"""WhatsApp statuses of the business's messages, with their conversation and pricing."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Literal

from messaging.providers.items import GraphError
from messaging.providers.whatsapp.types.items import WhatsAppItem

KNOWN_STATUSES = frozenset({"sent", "delivered", "read", "failed", "played"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversation:
    id: str | None
    origin_type: str | None
    expiration: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Pricing:
    billable: bool | None
    pricing_model: str | None
    type: str | None
    category: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusUpdate(WhatsAppItem):
    """``status`` keeps unknown values as sent (see ``KNOWN_STATUSES``)."""

    kind: Literal["whatsapp.status"] = dataclass_field(default="whatsapp.status", init=False)
    message_id: str
    status: str
    timestamp: datetime
    recipient_id: str | None
    recipient_user_id: str | None = None
    biz_opaque_callback_data: str | None = None
    conversation: Conversation | None = None
    pricing: Pricing | None = None
    errors: tuple[GraphError, ...] = ()

    @property
    def is_known_status(self) -> bool:
        return self.status in KNOWN_STATUSES
