"""The read API for messages, contacts, conversations and channels (``/api/v1/``). One view per operation.

Every query is scoped to the API key's tenant; another tenant's id answers the same 404 as an unknown one.
Sealed values that no longer open (a destroyed key) are shown as null with ``content_unavailable: true``;
content past its retention (even before the purge ran) as null with ``content_expired: true``.
"""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_auth import api_client, scope_required
from accounts.models import ApiScope
from core.api_schema import BAD_CURSOR, problem_responses
from messaging import selectors
from messaging.api_lists import (
    BAD_FILTER,
    PAGE_PARAMETERS,
    UPDATED_SINCE,
    NewestFirstPagination,
    not_found,
    page_of,
    paginate,
)
from messaging.api_pending import CHANNEL_EVENT_PAGE, ChannelEventOutputSerializer
from messaging.api_representation import IncludeSerializer, LastMessageSerializer, MessageOutputSerializer
from messaging.models import (
    Channel,
    ChannelStatus,
    Contact,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    Platform,
)
from messaging.providers.representation import MessageType


class MessagePagination(NewestFirstPagination):
    ordering = ("-provider_timestamp", "-id")


# --- Messages ------------------------------------------------------------------------------------


class QueryBooleanField(serializers.BooleanField):
    """Absent from the query string means no filter (DRF reads an absent boolean of form data as false)."""

    default_empty_html = serializers.empty


class MessageFilterSerializer(IncludeSerializer):
    channel = serializers.UUIDField(required=False)
    contact = serializers.UUIDField(required=False)
    conversation = serializers.UUIDField(required=False)
    direction = serializers.ChoiceField(choices=Direction.choices, required=False)
    type = serializers.ChoiceField(
        choices=MessageType.choices,
        required=False,
        help_text="A type of the public vocabulary (the `type` each message shows), the same on every platform.",
    )
    status = serializers.ChoiceField(choices=MessageStatus.choices, required=False)
    provider_message_id = serializers.CharField(required=False, max_length=512)
    since = serializers.DateTimeField(required=False, help_text="ISO 8601; provider_timestamp at or after.")
    until = serializers.DateTimeField(required=False, help_text="ISO 8601; provider_timestamp before.")
    updated_since = UPDATED_SINCE
    content_expired = QueryBooleanField(
        required=False,
        help_text="true: only messages whose content expired; false: only those whose content is still served.",
    )
    historical = QueryBooleanField(
        required=False,
        help_text="true: only messages imported from the WhatsApp Business app's past chats; false: none of them.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        since, until = attrs.get("since"), attrs.get("until")
        if since is not None and until is not None and since > until:
            raise serializers.ValidationError({"until": "Must not be earlier than since."})
        return attrs

    def filters(self) -> selectors.MessageFilters:
        data = self.validated_data
        return selectors.MessageFilters(
            channel_id=data.get("channel"),
            contact_id=data.get("contact"),
            conversation_id=data.get("conversation"),
            direction=data.get("direction"),
            message_type=data.get("type"),
            status=data.get("status"),
            provider_message_id=data.get("provider_message_id"),
            since=data.get("since"),
            until=data.get("until"),
            updated_since=data.get("updated_since"),
            content_expired=data.get("content_expired"),
            is_historical=data.get("historical"),
        )


class MessageListApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.MESSAGES_READ)]

    @extend_schema(
        operation_id="messages_list",
        description="The tenant's messages, newest first by provider timestamp (requires `messages:read`). "
        "`provider_message_id` is matched exactly.",
        parameters=[MessageFilterSerializer, *PAGE_PARAMETERS],
        responses={
            200: page_of("MessagePage", MessageOutputSerializer(many=True)),
            **problem_responses({400: BAD_FILTER, 404: BAD_CURSOR}),
        },
    )
    def get(self, request: Request) -> Response:
        filter_serializer = MessageFilterSerializer(data=request.query_params)
        filter_serializer.is_valid(raise_exception=True)
        messages = selectors.message_list(tenant=api_client(request).tenant, filters=filter_serializer.filters())
        paginator, page = paginate(view=self, request=request, queryset=messages, pagination=MessagePagination)
        opened = [selectors.message_open(message=message) for message in page]
        shown = MessageOutputSerializer(opened, many=True, context=filter_serializer.serializer_context())
        return paginator.get_paginated_response(shown.data)


class MessageDetailApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.MESSAGES_READ)]

    @extend_schema(
        operation_id="messages_retrieve",
        description="One of the tenant's messages with its status history (requires `messages:read`).",
        parameters=[IncludeSerializer],
        responses={
            200: MessageOutputSerializer,
            **problem_responses({400: BAD_FILTER, 404: not_found("message")}),
        },
    )
    def get(self, request: Request, message_id: uuid.UUID) -> Response:
        include = IncludeSerializer(data=request.query_params)
        include.is_valid(raise_exception=True)
        try:
            message = selectors.message_get(tenant=api_client(request).tenant, message_id=message_id)
        except Message.DoesNotExist:
            raise NotFound from None
        opened = selectors.message_open(message=message)
        return Response(MessageOutputSerializer(opened, context=include.serializer_context()).data)


# --- Contacts ------------------------------------------------------------------------------------


class ContactOutputSerializer(serializers.Serializer[Any]):
    """Serializes a ``selectors.OpenedContact``."""

    id = serializers.UUIDField(source="contact.id")
    platform = serializers.ChoiceField(source="contact.platform", choices=Platform.choices)
    external_id = serializers.CharField(allow_null=True)
    business_user_id = serializers.CharField(
        allow_null=True, help_text="WhatsApp's business-scoped user id (BSUID), when Meta sent one."
    )
    profile = serializers.JSONField(
        allow_null=True, help_text="The profile the newest message named (WhatsApp's `profile.name`); the latest wins."
    )
    profile_seen_at = serializers.DateTimeField(
        source="contact.profile_seen_at", allow_null=True, help_text="The provider time of that message."
    )
    changed_to = serializers.UUIDField(
        source="contact.changed_to_id",
        allow_null=True,
        help_text="The contact this person became when they changed their number (WhatsApp's `user_changed_number`).",
    )
    is_opted_out = serializers.BooleanField(source="contact.is_opted_out")
    content_unavailable = serializers.BooleanField(source="is_content_unavailable")
    created_at = serializers.DateTimeField(source="contact.created_at")


class ContactFilterSerializer(serializers.Serializer[Any]):
    external_id = serializers.CharField(required=False, max_length=256, help_text="Matched exactly.")


class ContactListApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.CONTACTS_READ)]

    @extend_schema(
        operation_id="contacts_list",
        description="The tenant's contacts, newest first (requires `contacts:read`).",
        parameters=[ContactFilterSerializer, *PAGE_PARAMETERS],
        responses={
            200: page_of("ContactPage", ContactOutputSerializer(many=True)),
            **problem_responses({400: BAD_FILTER, 404: BAD_CURSOR}),
        },
    )
    def get(self, request: Request) -> Response:
        filter_serializer = ContactFilterSerializer(data=request.query_params)
        filter_serializer.is_valid(raise_exception=True)
        external_id = filter_serializer.validated_data.get("external_id")
        contacts = selectors.contact_list(tenant=api_client(request).tenant, external_id=external_id)
        paginator, page = paginate(view=self, request=request, queryset=contacts, pagination=NewestFirstPagination)
        opened = [selectors.contact_open(contact=contact) for contact in page]
        return paginator.get_paginated_response(ContactOutputSerializer(opened, many=True).data)


class ContactDetailApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.CONTACTS_READ)]

    @extend_schema(
        operation_id="contacts_retrieve",
        description="One of the tenant's contacts (requires `contacts:read`).",
        responses={200: ContactOutputSerializer, **problem_responses({404: not_found("contact")})},
    )
    def get(self, request: Request, contact_id: uuid.UUID) -> Response:
        try:
            contact = selectors.contact_get(tenant=api_client(request).tenant, contact_id=contact_id)
        except Contact.DoesNotExist:
            raise NotFound from None
        return Response(ContactOutputSerializer(selectors.contact_open(contact=contact)).data)


# --- Conversations -------------------------------------------------------------------------------


class ConversationOutputSerializer(serializers.Serializer[Any]):
    """Serializes a ``selectors.ConversationView``."""

    id = serializers.UUIDField(source="conversation.id")
    channel = serializers.UUIDField(source="conversation.channel_id")
    contact = serializers.UUIDField(source="conversation.contact_id")
    last_inbound_at = serializers.DateTimeField(source="conversation.last_inbound_at", allow_null=True)
    window_expires_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When the platform's reply window (24 hours from the contact's last message) closes or "
        "closed; null when the contact never wrote.",
    )
    last_message = LastMessageSerializer(allow_null=True, help_text="The newest message, without its content.")
    updated_at = serializers.DateTimeField(
        source="conversation.updated_at", help_text="The last change, such as a message received."
    )


class ConversationFilterSerializer(serializers.Serializer[Any]):
    updated_since = UPDATED_SINCE


class ConversationListApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.MESSAGES_READ)]

    @extend_schema(
        operation_id="conversations_list",
        description="The tenant's conversations, newest first (requires `messages:read`).",
        parameters=[ConversationFilterSerializer, *PAGE_PARAMETERS],
        responses={
            200: page_of("ConversationPage", ConversationOutputSerializer(many=True)),
            **problem_responses({400: BAD_FILTER, 404: BAD_CURSOR}),
        },
    )
    def get(self, request: Request) -> Response:
        filters = ConversationFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        conversations = selectors.conversation_list(tenant=api_client(request).tenant, **filters.validated_data)
        paginator, page = paginate(view=self, request=request, queryset=conversations, pagination=NewestFirstPagination)
        shown = ConversationOutputSerializer(selectors.conversations_describe(page), many=True)
        return paginator.get_paginated_response(shown.data)


class ConversationDetailApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.MESSAGES_READ)]

    @extend_schema(
        operation_id="conversations_retrieve",
        description="One of the tenant's conversations (requires `messages:read`).",
        responses={
            200: ConversationOutputSerializer,
            **problem_responses({404: not_found("conversation")}),
        },
    )
    def get(self, request: Request, conversation_id: uuid.UUID) -> Response:
        try:
            conversation = selectors.conversation_get(
                tenant=api_client(request).tenant, conversation_id=conversation_id
            )
        except Conversation.DoesNotExist:
            raise NotFound from None
        [described] = selectors.conversations_describe([conversation])
        return Response(ConversationOutputSerializer(described).data)


# --- Channels ------------------------------------------------------------------------------------


class ChannelOutputSerializer(serializers.Serializer[Any]):
    """No access token, ever: it is a secret written by the operator, never shown back."""

    id = serializers.UUIDField()
    platform = serializers.ChoiceField(choices=Platform.choices)
    provider_id = serializers.CharField()
    display_name = serializers.CharField()
    # A string, not a second enum named "status": that would collide with MessageStatus in the schema.
    status = serializers.CharField(help_text=f"One of: {', '.join(ChannelStatus.values)}.")
    paused_reason = serializers.CharField(help_text="Why sending stopped (empty while active).")
    waba_id = serializers.CharField(help_text="WhatsApp only: the number's WhatsApp Business Account.")
    quality_rating = serializers.CharField(help_text="Meta's quality rating (WhatsApp): GREEN, YELLOW, RED, UNKNOWN.")
    messaging_limit_tier = serializers.CharField(help_text="Meta's messaging limit tier (WhatsApp), e.g. TIER_2K.")
    daily_conversation_limit = serializers.IntegerField(
        allow_null=True, help_text="Business-initiated conversations per 24 h by the tier; null: unlimited or unknown."
    )
    max_messages_per_second = serializers.IntegerField(help_text="The throughput Meta grants the number.")
    requested_display_name = serializers.CharField(help_text="The display name asked of Meta (WhatsApp).")
    display_name_status = serializers.CharField(help_text="Meta's decision on that display name.")
    is_coexistence = serializers.BooleanField(
        help_text="The number is also used in the WhatsApp Business app (set when its echoes, chat history or "
        "address book arrive): Meta holds it to 20 messages per second, and so does the gateway."
    )


class ChannelListApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.MESSAGES_READ)]

    @extend_schema(
        operation_id="channels_list",
        description="The tenant's channels, newest first (requires `messages:read`). Access tokens are never returned.",
        parameters=PAGE_PARAMETERS,
        responses={
            200: page_of("ChannelPage", ChannelOutputSerializer(many=True)),
            **problem_responses({404: BAD_CURSOR}),
        },
    )
    def get(self, request: Request) -> Response:
        channels = selectors.channel_list(tenant=api_client(request).tenant)
        paginator, page = paginate(view=self, request=request, queryset=channels, pagination=NewestFirstPagination)
        return paginator.get_paginated_response(ChannelOutputSerializer(page, many=True).data)


class ChannelDetailApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.MESSAGES_READ)]

    @extend_schema(
        operation_id="channels_retrieve",
        description="One of the tenant's channels (requires `messages:read`). The access token is never returned.",
        responses={200: ChannelOutputSerializer, **problem_responses({404: not_found("channel")})},
    )
    def get(self, request: Request, channel_id: uuid.UUID) -> Response:
        try:
            channel = selectors.channel_get(tenant=api_client(request).tenant, channel_id=channel_id)
        except Channel.DoesNotExist:
            raise NotFound from None
        return Response(ChannelOutputSerializer(channel).data)


class ChannelEventFieldSerializer(serializers.Serializer[Any]):
    field = serializers.CharField(required=False, max_length=64, help_text="Only this webhook field.")


class ChannelEventListApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.MESSAGES_READ)]

    @extend_schema(
        operation_id="channels_events_list",
        description="A channel's account and channel events from Meta, newest first (requires `messages:read`).",
        parameters=[ChannelEventFieldSerializer, *PAGE_PARAMETERS],
        responses={
            200: CHANNEL_EVENT_PAGE,
            **problem_responses({400: BAD_FILTER, 404: not_found("channel")}),
        },
    )
    def get(self, request: Request, channel_id: uuid.UUID) -> Response:
        filter_serializer = ChannelEventFieldSerializer(data=request.query_params)
        filter_serializer.is_valid(raise_exception=True)
        try:
            channel = selectors.channel_get(tenant=api_client(request).tenant, channel_id=channel_id)
        except Channel.DoesNotExist:
            raise NotFound from None
        events = selectors.channel_event_list(channel=channel, field=filter_serializer.validated_data.get("field"))
        paginator, page = paginate(view=self, request=request, queryset=events, pagination=NewestFirstPagination)
        return paginator.get_paginated_response(ChannelEventOutputSerializer(page, many=True).data)
