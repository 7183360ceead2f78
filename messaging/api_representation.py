"""How the API shows a message, the same everywhere: the message operations, a conversation's last message and
the events' ``full`` payloads (``events.payloads``). One vocabulary of types for every platform
(``messaging.providers.representation``), the text a person reads, typed ``content`` and, asked for with
``include=raw``, the platform's own object."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from messaging.models import AuthorKind, Direction, MediaStatus, MessageStatus, Platform
from messaging.providers.representation import MessageType


class StatusOutputSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=MessageStatus.choices)
    provider_timestamp = serializers.DateTimeField()
    # The metaclass takes declared fields off the class, so this does not shadow Serializer.errors at runtime.
    errors = serializers.JSONField()  # type: ignore[assignment]
    pricing = serializers.JSONField(
        allow_null=True, help_text="WhatsApp's pricing of this status (billable, pricing_model, type, category)."
    )


class PreviousVersionSerializer(serializers.Serializer[Any]):
    number = serializers.IntegerField(help_text="0: the text before the first edit; n: the text after the n-th.")
    text = serializers.CharField(allow_null=True)
    at = serializers.DateTimeField(help_text="When its author wrote this version (provider time).")


class AttachmentOutputSerializer(serializers.Serializer[Any]):
    """A media attachment; its bytes come from ``/messages/<id>/media/<attachment id>/`` once stored."""

    id = serializers.UUIDField()
    status = serializers.CharField(help_text=f"One of: {', '.join(MediaStatus.values)}.")  # not a second enum
    mime_type = serializers.CharField()
    size = serializers.IntegerField(allow_null=True)


class FailureSerializer(serializers.Serializer[Any]):
    code = serializers.IntegerField(allow_null=True, help_text="Meta's error code (or the gateway's own).")
    title = serializers.CharField(allow_null=True)


MESSAGE_TYPE_HELP = "The message's type, in one vocabulary for every platform (`MessageType`)."


class MessageOutputSerializer(serializers.Serializer[Any]):
    """Serializes a ``selectors.OpenedMessage``; ``raw`` only when the context says ``include_raw``."""

    id = serializers.UUIDField(source="message.id")
    platform = serializers.ChoiceField(choices=Platform.choices)
    channel = serializers.UUIDField(source="message.channel_id")
    conversation = serializers.UUIDField(source="message.conversation_id")
    contact = serializers.UUIDField(source="message.contact_id")
    direction = serializers.ChoiceField(source="message.direction", choices=Direction.choices)
    type = serializers.ChoiceField(source="public.type", choices=MessageType.choices, help_text=MESSAGE_TYPE_HELP)
    text = serializers.CharField(
        source="public.text",
        allow_null=True,
        help_text="The text a person reads: a text's body, a caption, a chosen button's title; null when none "
        "(or when the content is not served).",
    )
    status = serializers.ChoiceField(source="message.status", choices=MessageStatus.choices)
    failure = FailureSerializer(allow_null=True, help_text="Why it failed, when it did.")
    author = serializers.ChoiceField(
        choices=AuthorKind.choices, allow_null=True, help_text="Who wrote a send (null for what was received)."
    )
    send_at = serializers.DateTimeField(source="message.send_at", allow_null=True, help_text="A scheduled send's time.")
    is_flagged = serializers.BooleanField(source="message.is_flagged")
    is_sent_elsewhere = serializers.BooleanField(
        source="message.is_sent_elsewhere",
        help_text="The business sent it outside the gateway (a Messenger or Instagram echo, or from the WhatsApp "
        "Business app sharing the number).",
    )
    historical = serializers.BooleanField(
        source="message.is_historical",
        help_text="Imported from the WhatsApp Business app's past chats when the number joined the gateway "
        "(coexistence); no event announced it.",
    )
    provider_message_id = serializers.CharField(allow_null=True)
    provider_timestamp = serializers.DateTimeField(source="message.provider_timestamp")
    received_at = serializers.DateTimeField(source="message.received_at")
    updated_at = serializers.DateTimeField(source="message.updated_at", help_text="When it last changed.")
    content = serializers.JSONField(
        allow_null=True,
        help_text="Null when `content_expired` or `content_unavailable` (or never had any). A received message "
        "holds the platform's object; a send, the request as normalised.",
    )
    raw = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="Only with `include=raw`: the platform's own object as its webhook delivered it (null for a "
        "send the gateway made, and when the content is not served).",
    )
    content_unavailable = serializers.BooleanField(
        source="is_content_unavailable", help_text="The sealed content no longer opens (its key was destroyed)."
    )
    content_expired = serializers.BooleanField(
        source="is_content_expired",
        help_text="The content expired under the tenant's retention policy (or was purged): it is never served, "
        "and its media answer 410.",
    )
    content_expires_at = serializers.DateTimeField(
        source="message.content_expires_at", allow_null=True, help_text="When the content expires (or expired)."
    )
    edit_count = serializers.IntegerField(
        source="message.edit_count", help_text="How many times its author edited it; `content` is the latest edit."
    )
    edited_at = serializers.DateTimeField(
        source="message.edited_at", allow_null=True, help_text="When it was last edited (provider time)."
    )
    previous_versions = PreviousVersionSerializer(
        many=True,
        help_text="The texts it had before the current one, oldest first; kept as long as its content and "
        "empty when the content is not served.",
    )
    statuses = StatusOutputSerializer(source="message.status_events.all", many=True)
    attachments = AttachmentOutputSerializer(source="message.attachments.all", many=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        shown = super().to_representation(instance)
        if not self.context.get(INCLUDE_RAW):
            shown.pop("raw")
        return dict(shown)


INCLUDE_RAW = "include_raw"


class IncludeSerializer(serializers.Serializer[Any]):
    include = serializers.ChoiceField(
        choices=["raw"], required=False, help_text="`raw`: add each message's platform object (`raw`)."
    )

    def serializer_context(self) -> dict[str, bool]:
        return {INCLUDE_RAW: self.validated_data.get("include") == "raw"}


class LastMessageSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    type = serializers.ChoiceField(choices=MessageType.choices, help_text="In the messages' vocabulary.")
    direction = serializers.ChoiceField(choices=Direction.choices)
    provider_timestamp = serializers.DateTimeField()
