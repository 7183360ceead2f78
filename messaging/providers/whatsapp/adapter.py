"""The WhatsApp Cloud API adapter: the contract of ``messaging.providers.adapter.Adapter``."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from messaging.providers.adapter import Platform
from messaging.providers.delivery import DeliveryItem, ParsedDelivery
from messaging.providers.events import MediaSource, NeutralEvent
from messaging.providers.jsonread import JsonObject
from messaging.providers.representation import PublicMessage
from messaging.providers.sending import SendRequest
from messaging.providers.templates import TemplateFacts, TemplateReference
from messaging.providers.whatsapp import events, parse, public, send
from messaging.providers.whatsapp.messages import TYPES
from messaging.providers.whatsapp.templates import checks as template_checks

# Not a message to the user: only the channel's budget applies.
NO_PAIR_LIMIT_TYPES = frozenset({"mark_read"})
# The only type that may start a conversation outside the customer service window.
BUSINESS_INITIATED_TYPES = frozenset({"template"})


class WhatsAppAdapter:
    platform = Platform.WHATSAPP
    webhook_object = parse.OBJECT
    send_types = TYPES
    reply_window = send.WINDOW

    def parse(self, document: JsonObject) -> ParsedDelivery:
        return parse.parse_whatsapp(document)

    def item_event(self, item: DeliveryItem) -> NeutralEvent:
        if not isinstance(item, events.WHATSAPP_EVENT_ITEMS):
            raise TypeError(f"not a WhatsApp item: {type(item).__name__}")
        return events.item_event(item)

    def recipient_external_id(self, to: str) -> str:
        return send.recipient_external_id(to)

    def content_normalise(self, request: SendRequest) -> dict[str, Any]:
        return send.content_normalise(request)

    def window_check(
        self, *, request: SendRequest, content: dict[str, Any], last_inbound_at: datetime | None, at: datetime
    ) -> None:
        send.window_check(request, content, last_inbound_at, at)

    def template_reference(self, content: dict[str, Any]) -> TemplateReference | None:
        return template_checks.template_reference(content)

    def template_check(self, content: dict[str, Any], template: TemplateFacts) -> None:
        template_checks.template_check(content, template)

    def graph_request(self, content: dict[str, Any], *, recipient: str, callback_id: str) -> tuple[str, dict[str, Any]]:
        return send.graph_request(content, recipient=recipient, callback_id=callback_id)

    def is_pair_limited(self, message_type: str) -> bool:
        return message_type not in NO_PAIR_LIMIT_TYPES

    def opens_business_conversation(self, message_type: str) -> bool:
        return message_type in BUSINESS_INITIATED_TYPES

    def media_sources(self, content: JsonObject) -> tuple[MediaSource, ...]:
        return events.media_sources(content)

    def message_public(self, message_type: str, content: object) -> PublicMessage:
        return public.message_public(message_type, content)

    def content_edited(self, content: object, text: str) -> object:
        return public.content_edited(content, text)

    def media_lookup_path(self, reference: str) -> str | None:
        return quote(reference, safe="")
