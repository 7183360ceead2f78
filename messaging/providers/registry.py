"""Which adapter speaks for a platform, and which parser reads a webhook ``object``: one explicit table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from messaging.providers.adapter import Adapter, Platform
from messaging.providers.delivery import ParsedDelivery
from messaging.providers.jsonread import JsonObject
from messaging.providers.meta_messaging.adapter import MetaMessagingAdapter
from messaging.providers.sending import SendRequest
from messaging.providers.whatsapp.adapter import WhatsAppAdapter

ADAPTERS: dict[Platform, Adapter] = {
    Platform.WHATSAPP: WhatsAppAdapter(),
    Platform.MESSENGER: MetaMessagingAdapter("messenger"),
    Platform.INSTAGRAM: MetaMessagingAdapter("instagram"),
}
PARSERS: dict[str, Callable[[JsonObject], ParsedDelivery]] = {
    adapter.webhook_object: adapter.parse for adapter in ADAPTERS.values()
}
# Every type any platform sends, in documentation order (WhatsApp's first).
SEND_TYPES = tuple(dict.fromkeys(name for adapter in ADAPTERS.values() for name in adapter.send_types))


def adapter_for(platform: str) -> Adapter:
    """The adapter of a stored platform value; an unknown one raises ``ValueError``."""
    return ADAPTERS[Platform(platform)]


def parser_for(object_name: str) -> Callable[[JsonObject], ParsedDelivery] | None:
    """The parser for a webhook body's top-level ``object``, or None for one no platform sends."""
    return PARSERS.get(object_name)


def content_normalise(*, platform: str, request: SendRequest) -> dict[str, Any]:
    """The send request as ``Message.content``, by the platform's rules (``Adapter.content_normalise``)."""
    return adapter_for(platform).content_normalise(request)
