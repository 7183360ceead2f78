"""The send API's request and answer shapes (``messaging.outbound.api`` describes the answers)."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers

from core.api_schema import ProblemSerializer
from messaging.models import AuthorKind
from messaging.providers.meta_messaging.send import MessageTag, MessagingType
from messaging.providers.native import attachment_from_native, interactive_from_native, template_from_native
from messaging.providers.registry import SEND_TYPES
from messaging.providers.sending import SendRequest, SendRule
from messaging.providers.whatsapp.messages import TYPES as WHATSAPP_TYPES

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 255
REPLAYED_HEADER = "Idempotent-Replayed"
ID_MAX = 256
LINK_MAX = 2048
CONTENT_FIELDS = (*WHATSAPP_TYPES, "attachment")


def _text(**kwargs: Any) -> serializers.CharField:
    """Message text is sent exactly as given: no trimming. Lengths are rules (422), not shapes."""
    return serializers.CharField(trim_whitespace=False, **kwargs)


def _exactly_one(attrs: dict[str, Any], first: str, second: str) -> None:
    if (attrs.get(first) is None) == (attrs.get(second) is None):
        raise serializers.ValidationError(f"Give exactly one of {first} and {second}.")


# --- Request shapes --------------------------------------------------------------------------------


class QuickReplySerializer(serializers.Serializer[Any]):
    content_type = serializers.ChoiceField(choices=["text", "user_phone_number", "user_email"], default="text")
    title = _text(required=False, help_text="Required for text quick replies; at most 20 characters.")
    payload = _text(required=False, help_text="Required for text quick replies; at most 1,000 characters.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["content_type"] == "text" and not (attrs.get("title") and attrs.get("payload")):
            raise serializers.ValidationError("A text quick reply needs a title and a payload.")
        return attrs


class TextSerializer(serializers.Serializer[Any]):
    body = _text(help_text="WhatsApp: at most 4,096 characters; Messenger 2,000; Instagram 1,000.")
    preview_url = serializers.BooleanField(required=False, help_text="WhatsApp only.")
    quick_replies = serializers.ListField(
        child=QuickReplySerializer(), required=False, allow_empty=False, help_text="Messenger/Instagram: at most 13."
    )


class TemplateSerializer(serializers.Serializer[Any]):
    """A WhatsApp template. Meta's own shape is accepted as well: ``language`` as ``{"code": "en_US",
    "policy": "deterministic"}``."""

    name = serializers.CharField(help_text="The approved template's name.")
    language = serializers.CharField(
        max_length=16, help_text='The template\'s language code, e.g. en_US (or Meta\'s {"code": "en_US"}).'
    )
    components = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="Graph template components (header, body, button parameters), passed on as given.",
    )

    def to_internal_value(self, data: Any) -> Any:
        return super().to_internal_value(template_from_native(data) if isinstance(data, dict) else data)


class MediaSerializer(serializers.Serializer[Any]):
    id = serializers.CharField(required=False, max_length=ID_MAX, help_text="An uploaded media id (preferred).")
    link = serializers.CharField(required=False, max_length=LINK_MAX, help_text="An https URL.")
    caption = _text(required=False, help_text="image, video, document: at most 1,024 characters.")
    filename = serializers.CharField(required=False, help_text="document only.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        _exactly_one(attrs, "id", "link")
        return attrs


class HeaderSerializer(serializers.Serializer[Any]):
    type = serializers.ChoiceField(choices=["text", "image", "video", "document"])
    text = _text(required=False, help_text="For a text header: at most 60 characters.")
    id = serializers.CharField(required=False, max_length=ID_MAX)
    link = serializers.CharField(required=False, max_length=LINK_MAX)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["type"] == "text":
            if not attrs.get("text"):
                raise serializers.ValidationError({"text": "A text header needs text."})
        else:
            _exactly_one(attrs, "id", "link")
        return attrs


class ButtonSerializer(serializers.Serializer[Any]):
    id = serializers.CharField(help_text="Comes back in the reply; at most 256 characters.")
    title = _text(help_text="At most 20 characters.")


class RowSerializer(serializers.Serializer[Any]):
    id = serializers.CharField(help_text="At most 200 characters.")
    title = _text(help_text="At most 24 characters.")
    description = _text(required=False, help_text="At most 72 characters.")


class SectionSerializer(serializers.Serializer[Any]):
    title = _text(required=False, help_text="At most 24 characters.")
    rows = serializers.ListField(child=RowSerializer(), allow_empty=False)


class InteractiveSerializer(serializers.Serializer[Any]):
    """Reply buttons or a list (WhatsApp). Meta's own shape, as its documentation shows it, is accepted as well
    and stored the same: ``body: {"text": …}``, ``footer: {"text": …}``, a media header as
    ``{"type": "image", "image": {"link": …}}``, and ``action`` holding
    ``buttons: [{"type": "reply", "reply": {"id": …, "title": …}}]`` or ``button`` and
    ``sections: [{"title": …, "rows": [{"id": …, "title": …, "description": …}]}]``."""

    type = serializers.ChoiceField(choices=["button", "list"])
    header = HeaderSerializer(required=False)
    body = _text(help_text="At most 1,024 characters.")
    footer = _text(required=False, help_text="At most 60 characters.")
    buttons = serializers.ListField(
        child=ButtonSerializer(), required=False, allow_empty=False, help_text="type button: 1 to 3 reply buttons."
    )
    button = _text(required=False, help_text="type list: the label of the menu button, at most 20 characters.")
    sections = serializers.ListField(
        child=SectionSerializer(),
        required=False,
        allow_empty=False,
        help_text="type list: at most 10 sections and 10 rows in all.",
    )

    def to_internal_value(self, data: Any) -> Any:
        return super().to_internal_value(interactive_from_native(data) if isinstance(data, dict) else data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["type"] == "button":
            if not attrs.get("buttons") or "sections" in attrs or "button" in attrs:
                raise serializers.ValidationError("A button message has buttons (and no button or sections).")
        elif not attrs.get("sections") or not attrs.get("button") or "buttons" in attrs:
            raise serializers.ValidationError("A list message has a button label and sections (and no buttons).")
        return attrs


class ReactionSerializer(serializers.Serializer[Any]):
    message_id = serializers.UUIDField(help_text="The gateway id of a message of this conversation.")
    emoji = _text(allow_blank=True, help_text="One emoji; an empty string removes the reaction.")


class MarkReadSerializer(serializers.Serializer[Any]):
    message_id = serializers.UUIDField(help_text="The gateway id of an inbound message of this conversation.")


class AttachmentSerializer(serializers.Serializer[Any]):
    """A Messenger or Instagram attachment. Meta's own shape is accepted as well:
    ``{"type": "image", "payload": {"url": …, "is_reusable": true}}``."""

    type = serializers.ChoiceField(choices=["image", "audio", "video", "file"])
    url = serializers.CharField(max_length=LINK_MAX, help_text="An https URL.")

    def to_internal_value(self, data: Any) -> Any:
        return super().to_internal_value(attachment_from_native(data) if isinstance(data, dict) else data)


class ContextSerializer(serializers.Serializer[Any]):
    message_id = serializers.UUIDField(help_text="The gateway id of the message replied to (WhatsApp).")


class SendRequestSerializer(serializers.Serializer[Any]):
    """One send. The object named by ``type`` carries the content; no other content object may be given.

    A body pasted from Meta's documentation works with ``channel`` added: Meta's ``messaging_product`` and
    ``recipient_type`` are ignored, its text and media objects are ours, and its ``interactive``, ``template``
    and ``attachment`` shapes are read as ours (``messaging.providers.native``)."""

    channel = serializers.UUIDField()
    to = serializers.CharField(
        required=False,
        max_length=64,
        help_text="WhatsApp: a phone number in international form (+16505551234); Messenger/Instagram: a PSID/IGSID. "
        "Give `to` or `contact_id`.",
    )
    contact_id = serializers.UUIDField(required=False)
    type = serializers.ChoiceField(
        choices=SEND_TYPES,
        help_text="WhatsApp: text, template, image, video, audio, document, sticker, interactive, reaction, "
        "mark_read. Messenger/Instagram: text, attachment.",
    )
    text = TextSerializer(required=False)
    template = TemplateSerializer(required=False)
    image = MediaSerializer(required=False)
    video = MediaSerializer(required=False)
    audio = MediaSerializer(required=False)
    document = MediaSerializer(required=False)
    sticker = MediaSerializer(required=False)
    interactive = InteractiveSerializer(required=False)
    reaction = ReactionSerializer(required=False)
    mark_read = MarkReadSerializer(required=False)
    attachment = AttachmentSerializer(required=False)
    # The metaclass takes declared fields off the class, so this does not shadow Serializer.context at runtime.
    context = ContextSerializer(required=False)  # type: ignore[assignment]
    messaging_type = serializers.ChoiceField(
        choices=MessagingType.choices,
        required=False,
        help_text="Messenger/Instagram: RESPONSE unless given; a tag alone means MESSAGE_TAG.",
    )
    tag = serializers.ChoiceField(choices=MessageTag.choices, required=False, help_text="With MESSAGE_TAG.")
    author = serializers.ChoiceField(
        choices=AuthorKind.choices, default=AuthorKind.SYSTEM, help_text="human for a reply a person wrote."
    )
    send_at = serializers.DateTimeField(
        required=False, help_text="A scheduled send: in the future, at most 30 days ahead."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        _exactly_one(attrs, "to", "contact_id")
        message_type = attrs["type"]
        if attrs.get(message_type) is None:
            raise serializers.ValidationError(
                {message_type: f"A {message_type} message needs a {message_type} object."}
            )
        others = [name for name in CONTENT_FIELDS if name != message_type and name in attrs]
        if others:
            raise serializers.ValidationError({others[0]: f"Not allowed with type {message_type}."})
        if "context" in attrs and message_type in {"reaction", "mark_read"}:
            raise serializers.ValidationError({"context": f"Not allowed with type {message_type}."})
        return attrs

    def send_request(self) -> SendRequest:
        data = self.validated_data
        context = data.get("context")
        return SendRequest(
            channel_id=data["channel"],
            contact_id=data.get("contact_id"),
            to=data.get("to"),
            message_type=data["type"],
            payload=_plain(data[data["type"]]),
            context_message_id=context["message_id"] if context else None,
            messaging_type=data.get("messaging_type"),
            tag=data.get("tag"),
            author_kind=data["author"],
            send_at=data.get("send_at"),
        )


def _plain(value: Any) -> Any:
    """Validated data as plain dicts, lists and strings (UUIDs as strings)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


# --- Answers -------------------------------------------------------------------------------------------


SendReceiptSerializer = inline_serializer(
    name="SendReceipt",
    fields={
        "id": serializers.UUIDField(),
        "status": serializers.CharField(help_text="queued (cancelled after a cancel)."),
        "type": serializers.CharField(),
        "channel": serializers.UUIDField(),
        "contact": serializers.UUIDField(),
        "conversation": serializers.UUIDField(),
        "author": serializers.CharField(),
        "send_at": serializers.DateTimeField(allow_null=True),
        "created_at": serializers.DateTimeField(),
    },
)
RULES_DOCUMENTED = "\n".join(f"- `{rule.value}`: {rule.label}" for rule in SendRule)


class SendRuleErrorSerializer(ProblemSerializer):
    """A 422: ``code`` is ``validation_failed``; ``rule`` says which rule, ``field`` where (when it is one field)."""

    rule = serializers.ChoiceField(choices=SendRule.values)
    field = serializers.CharField(allow_null=True, help_text="The offending field's dotted path, if one.")


class SendConflictSerializer(ProblemSerializer):
    """A 409: ``code`` is ``idempotency_key_reused`` or ``not_cancellable``."""

    message_status = serializers.CharField(required=False, help_text="not_cancellable: the message's status now.")


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Up to 255 characters, unique per request you mean. The same key and body answer the first 202 "
    "again (header `Idempotent-Replayed: true`) without queuing another message; another body answers 409. "
    "400, 404 and 422 answers are not recorded: retrying the key evaluates the request again. A key is kept 24 "
    "hours after its send, then forgotten.",
)
