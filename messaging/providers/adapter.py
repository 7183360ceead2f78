"""The contract every platform adapter meets, and the platforms there are.

An adapter knows one platform's payload shapes and rules, never the ORM or tenant policy. The registry
(``messaging.providers.registry``) holds one adapter per platform; callers never branch on the platform.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from messaging.providers.delivery import DeliveryItem, ParsedDelivery
from messaging.providers.events import MediaSource, NeutralEvent
from messaging.providers.jsonread import JsonObject
from messaging.providers.representation import PublicMessage
from messaging.providers.sending import SendRequest
from messaging.providers.templates import TemplateFacts, TemplateReference


class Platform(StrEnum):
    """The platforms the gateway speaks to (``messaging.models.Platform`` stores these values)."""

    WHATSAPP = "whatsapp"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"


class Adapter(Protocol):
    """One platform, seen from the gateway.

    Inbound: ``parse`` turns a webhook body (its top-level ``object`` is ``webhook_object``) into typed
    items; ``item_event`` drafts each of them as the neutral event storage writes
    (``providers/<platform>/events.py``), with the files its typed content refers to; ``media_sources``
    reads those files again from a stored message (through the same parser) and ``media_lookup_path`` says
    how to fetch them.

    Outbound: a send request is normalised and checked (``content_normalise``, ``recipient_external_id``,
    ``window_check``) before anything is written; the stored content becomes the Graph request
    (``graph_request``) when dispatched, and ``is_pair_limited`` says whether it also takes the recipient's
    rate. Graph's answer to a send has the same shape on every platform (``providers/graph_answer.py``).

    Limits (sizes, counts) and windows are the platform's own and are checked here, so that a send is
    refused at once rather than failed by Meta later.
    """

    @property
    def platform(self) -> Platform:
        """The platform this adapter speaks for."""
        ...

    @property
    def webhook_object(self) -> str:
        """The top-level ``object`` of the platform's webhook bodies."""
        ...

    @property
    def send_types(self) -> tuple[str, ...]:
        """The message types a send request may name, in documentation order."""
        ...

    def parse(self, document: JsonObject) -> ParsedDelivery:
        """Typed items in document order for a decoded body; never raises, broken parts become problems."""
        ...

    def item_event(self, item: DeliveryItem) -> NeutralEvent:
        """One of its own parsed items as the neutral event storage writes; raises ``TypeError`` for an item
        of another platform."""
        ...

    def recipient_external_id(self, to: str) -> str:
        """The contact's platform id for a send's ``to``; raises ``SendRuleError`` (recipient_invalid)."""
        ...

    def content_normalise(self, request: SendRequest) -> dict[str, Any]:
        """The request as ``Message.content`` (version ``CONTENT_VERSION``), checked against the platform's
        types and limits; raises ``SendRuleError``. Message ids it names are still gateway ids."""
        ...

    @property
    def reply_window(self) -> timedelta | None:
        """How long after the contact's last message the business may write freely (WhatsApp's customer
        service window; Messenger's and Instagram's standard messaging window), or None for no such window.
        ``window_check`` applies it; the window's closing is announced to the business."""
        ...

    def window_check(
        self, *, request: SendRequest, content: dict[str, Any], last_inbound_at: datetime | None, at: datetime
    ) -> None:
        """Raise ``SendRuleError`` if the platform's messaging window (judged at ``at``, from the contact's
        last message) does not allow this send."""
        ...

    def template_reference(self, content: dict[str, Any]) -> TemplateReference | None:
        """The message template a normalised send names, which the caller looks up in the templates it knows
        and passes to ``template_check``; None when the send names none (or the platform has no templates)."""
        ...

    def template_check(self, content: dict[str, Any], template: TemplateFacts) -> None:
        """Raise ``SendRuleError`` unless ``template`` (the stored template ``template_reference`` named) may be
        sent now and the send's parameters fill it: approved, the count, names and types of its variables,
        header media when it has a media header."""
        ...

    def graph_request(self, content: dict[str, Any], *, recipient: str, callback_id: str) -> tuple[str, dict[str, Any]]:
        """(path suffix, JSON body) of the Graph call for stored content; ``callback_id`` (our message id)
        comes back in the platform's statuses or echoes. Raises ``ValueError`` for content it does not know."""
        ...

    def is_pair_limited(self, message_type: str) -> bool:
        """Whether a send of this type also counts against the recipient's own rate (WhatsApp's pair rate
        for messages to a user), besides the channel's."""
        ...

    def opens_business_conversation(self, message_type: str) -> bool:
        """Whether a send of this type, outside the reply window, opens a business-initiated conversation
        (WhatsApp's templates): those count against the daily messaging limit Meta grants."""
        ...

    def media_sources(self, content: JsonObject) -> tuple[MediaSource, ...]:
        """The files a stored inbound item (``Message.content``) refers to, in order, read by the parser its
        webhook went through (the same files its event carried); never raises."""
        ...

    def message_public(self, message_type: str, content: object) -> PublicMessage:
        """A stored message (its ``Message.message_type`` and opened content, None when not served) in the
        public vocabulary (``messaging.providers.representation``), with its text; never raises."""
        ...

    def content_edited(self, content: object, text: str) -> object:
        """A stored inbound message's content (its platform object) with its text replaced by an edit's, the rest
        kept; the content unchanged when it has no text to replace. Never raises."""
        ...

    def media_lookup_path(self, reference: str) -> str | None:
        """The Graph path that resolves a media reference to a download URL before each attempt (a WhatsApp
        media id), or None when the reference is the file's own URL, fetched without credentials."""
        ...
