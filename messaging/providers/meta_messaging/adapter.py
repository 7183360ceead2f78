"""The Messenger and Instagram adapter: one class, parametrised by the platform, for the shared
``entry[].messaging[]`` envelope and Send API (the contract of ``messaging.providers.adapter.Adapter``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from messaging.providers.adapter import Platform
from messaging.providers.delivery import DeliveryItem, ParsedDelivery
from messaging.providers.events import MediaSource, NeutralEvent
from messaging.providers.items import MessagingPlatform
from messaging.providers.jsonread import JsonObject
from messaging.providers.meta_messaging import events, parse, public, send
from messaging.providers.meta_messaging.types import MESSAGING_EVENT_TYPES
from messaging.providers.representation import PublicMessage
from messaging.providers.sending import SendRequest, SendRule, SendRuleError
from messaging.providers.templates import TemplateFacts, TemplateReference


class MetaMessagingAdapter:
    send_types = send.TYPES
    reply_window = send.WINDOW  # RESPONSE and UPDATE; past it only a tag (HUMAN_AGENT for a week)

    def __init__(self, platform: MessagingPlatform) -> None:
        self._platform: MessagingPlatform = platform

    @property
    def platform(self) -> Platform:
        return Platform(self._platform)

    @property
    def webhook_object(self) -> str:
        return parse.OBJECT_NAMES[self._platform]

    def parse(self, document: JsonObject) -> ParsedDelivery:
        return parse.parse_meta_messaging(document, platform=self._platform)

    def item_event(self, item: DeliveryItem) -> NeutralEvent:
        if not isinstance(item, MESSAGING_EVENT_TYPES):
            raise TypeError(f"not a Messenger or Instagram item: {type(item).__name__}")
        return events.item_event(item)

    def recipient_external_id(self, to: str) -> str:
        return send.recipient_external_id(to)

    def content_normalise(self, request: SendRequest) -> dict[str, Any]:
        return send.content_normalise(request, self._platform)

    def window_check(
        self, *, request: SendRequest, content: dict[str, Any], last_inbound_at: datetime | None, at: datetime
    ) -> None:
        send.window_check(request, content, last_inbound_at, at)

    def template_reference(self, content: dict[str, Any]) -> TemplateReference | None:
        return None  # Messenger and Instagram have no message templates to check

    def template_check(self, content: dict[str, Any], template: TemplateFacts) -> None:
        raise SendRuleError(SendRule.NOT_SUPPORTED, "Message templates are a WhatsApp feature.", field="type")

    def graph_request(self, content: dict[str, Any], *, recipient: str, callback_id: str) -> tuple[str, dict[str, Any]]:
        return send.graph_request(content, recipient=recipient, callback_id=callback_id)

    def is_pair_limited(self, message_type: str) -> bool:
        return False

    def opens_business_conversation(self, message_type: str) -> bool:
        return False

    def media_sources(self, content: JsonObject) -> tuple[MediaSource, ...]:
        return events.media_sources(content, self._platform)

    def message_public(self, message_type: str, content: object) -> PublicMessage:
        return public.message_public(message_type, content, self._platform)

    def content_edited(self, content: object, text: str) -> object:
        return public.content_edited(content, text)

    def media_lookup_path(self, reference: str) -> str | None:
        return None
