"""What Meta told the gateway that is not a message (``/api/v1/``): the statuses and watermarks parked until the
message they name appears, and channel news such as a webhook's ``value.errors``. Read-only, scoped to the API
key's tenant, newest first; another tenant's rows are never listed."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_auth import api_client, scope_required
from accounts.models import ApiScope
from core.api_schema import BAD_CURSOR, problem_responses
from messaging import selectors
from messaging.api_lists import BAD_FILTER, PAGE_PARAMETERS, NewestFirstPagination, page_of, paginate
from messaging.models import MessageStatus


class ParkedStatusOutputSerializer(serializers.Serializer[Any]):
    """Serializes a ``selectors.OpenedParkedStatus``."""

    id = serializers.UUIDField(source="parked.id")
    channel = serializers.UUIDField(source="parked.channel_id")
    provider_message_id = serializers.CharField(
        allow_null=True, help_text="The message Meta named (a wamid or mid); null when it no longer opens."
    )
    status = serializers.ChoiceField(source="parked.status", choices=MessageStatus.choices)
    provider_timestamp = serializers.DateTimeField(source="parked.provider_timestamp")
    received_at = serializers.DateTimeField(source="parked.received_at")
    expires_at = serializers.DateTimeField(help_text="When it stops waiting for its message and is dropped.")
    # The metaclass takes declared fields off the class, so this does not shadow Serializer.errors at runtime.
    errors = serializers.JSONField(source="parked.errors")  # type: ignore[assignment]


class ParkedReceiptOutputSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    channel = serializers.UUIDField(source="channel_id")
    contact = serializers.UUIDField(source="contact_id")
    status = serializers.ChoiceField(choices=MessageStatus.choices)
    watermark = serializers.DateTimeField(help_text="Every message sent to the contact up to this time.")
    provider_timestamp = serializers.DateTimeField()
    received_at = serializers.DateTimeField()


class ChannelEventOutputSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    channel = serializers.UUIDField(source="channel_id")
    field = serializers.CharField(help_text="Meta's webhook field: `errors` for a webhook's `value.errors`, …")
    payload = serializers.JSONField(help_text="What Meta sent (for `errors`: code, title, message, details, href).")
    received_at = serializers.DateTimeField()


# One page component for both lists of channel news (the tenant's and a channel's): the schema names it once.
CHANNEL_EVENT_PAGE = page_of("ChannelEventPage", ChannelEventOutputSerializer(many=True))


class ChannelFilterSerializer(serializers.Serializer[Any]):
    channel = serializers.UUIDField(required=False)


class ChannelEventFilterSerializer(ChannelFilterSerializer):
    field = serializers.CharField(required=False, max_length=64, help_text="Only this field (`errors`, …).")


class ParkedStatusListApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.MESSAGES_READ)]

    @extend_schema(
        operation_id="parked_statuses_list",
        description="Statuses Meta reported for a message not stored yet (requires `messages:read`): each is "
        "applied when its message appears (a send Meta accepts, an echo) and dropped at `expires_at` otherwise.",
        parameters=[ChannelFilterSerializer, *PAGE_PARAMETERS],
        responses={
            200: page_of("ParkedStatusPage", ParkedStatusOutputSerializer(many=True)),
            **problem_responses({400: BAD_FILTER, 404: BAD_CURSOR}),
        },
    )
    def get(self, request: Request) -> Response:
        filters = ChannelFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        parked = selectors.parked_status_list(tenant=api_client(request).tenant, **filters.validated_data)
        paginator, page = paginate(view=self, request=request, queryset=parked, pagination=NewestFirstPagination)
        opened = [selectors.parked_status_open(parked=row) for row in page]
        return paginator.get_paginated_response(ParkedStatusOutputSerializer(opened, many=True).data)


class ParkedReceiptListApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.MESSAGES_READ)]

    @extend_schema(
        operation_id="parked_receipts_list",
        description="Messenger and Instagram watermarks kept for the messages that may appear after them "
        "(requires `messages:read`), one per contact and status, for 24 hours after they arrived.",
        parameters=[ChannelFilterSerializer, *PAGE_PARAMETERS],
        responses={
            200: page_of("ParkedReceiptPage", ParkedReceiptOutputSerializer(many=True)),
            **problem_responses({400: BAD_FILTER, 404: BAD_CURSOR}),
        },
    )
    def get(self, request: Request) -> Response:
        filters = ChannelFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        kept = selectors.parked_receipt_list(tenant=api_client(request).tenant, **filters.validated_data)
        paginator, page = paginate(view=self, request=request, queryset=kept, pagination=NewestFirstPagination)
        return paginator.get_paginated_response(ParkedReceiptOutputSerializer(page, many=True).data)


class ChannelEventListApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.MESSAGES_READ)]

    @extend_schema(
        operation_id="channel_events_list",
        description="Channel news Meta sent (requires `messages:read`): a webhook's `value.errors` (field "
        "`errors`), and the other fields the gateway keeps as they came. Each is kept once however often "
        "Meta redelivers it.",
        parameters=[ChannelEventFilterSerializer, *PAGE_PARAMETERS],
        responses={
            200: CHANNEL_EVENT_PAGE,
            **problem_responses({400: BAD_FILTER, 404: BAD_CURSOR}),
        },
    )
    def get(self, request: Request) -> Response:
        filters = ChannelEventFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        news = selectors.tenant_channel_event_list(tenant=api_client(request).tenant, **filters.validated_data)
        paginator, page = paginate(view=self, request=request, queryset=news, pagination=NewestFirstPagination)
        return paginator.get_paginated_response(ChannelEventOutputSerializer(page, many=True).data)
