"""The pull feed (``GET /api/v1/events/``, scope ``events:read``) and the replay of one event to one endpoint
(``POST /api/v1/events/<evt id>/replay/?endpoint=<id>``, scope ``events:manage``).

The feed serves the tenant's events above a cursor in ``sequence`` order (``events.feed`` says why a reader never
misses one), as the same envelopes webhooks carry: thin unless the key may also read messages and asks for
``payload=full``.
"""

from __future__ import annotations

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_auth import api_client, scope_required
from accounts.models import ApiScope
from core.api_schema import problem_responses
from events import endpoints
from events.api import INVALID, MANAGE, actor_of, invalid
from events.feed import events_after
from events.models import EVENT_ID_PREFIX, Event, PayloadMode
from events.payloads import events_payloads
from events.serializers import FeedFilterSerializer, FeedPageSerializer
from messaging.api_lists import BAD_FILTER

DEFAULT_LIMIT = 100
EVENT_ID_PATTERN = r"evt_[0-9a-f]{32}"


class EventFeedApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.EVENTS_READ)]

    @extend_schema(
        operation_id="events_list",
        description="The tenant's events after a cursor, oldest first (requires `events:read`): pass each "
        "answer's `next_cursor` as `after` to read on; an event committed late comes after the cursor, never "
        "below it. Each is the envelope a webhook delivery carries. Thin unless `payload=full` and the key also "
        "has `messages:read`. Test pings are not in the feed.",
        parameters=[FeedFilterSerializer],
        responses={
            200: FeedPageSerializer,
            **problem_responses({400: BAD_FILTER}),
        },
    )
    def get(self, request: Request) -> Response:
        filters = FeedFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        client = api_client(request)
        after = filters.validated_data.get("after", 0)
        rows = events_after(tenant=client.tenant, after=after, limit=filters.validated_data.get("limit", DEFAULT_LIMIT))
        is_full = filters.validated_data.get("payload") == PayloadMode.FULL and ApiScope.MESSAGES_READ in client.scopes
        payloads = events_payloads(rows, mode=PayloadMode.FULL if is_full else PayloadMode.THIN)
        next_cursor = rows[-1].sequence if rows else after
        return Response({"results": payloads, "next_cursor": next_cursor})


class EventReplayApi(APIView):
    permission_classes = MANAGE

    @extend_schema(
        operation_id="events_replay",
        description="Deliver one event again to one of the tenant's endpoints (requires `events:manage`), with "
        "its `webhook-id`, whether or not the endpoint had it.",
        parameters=[OpenApiParameter("endpoint", OpenApiTypes.UUID, required=True, description="The endpoint.")],
        request=None,
        responses={
            202: None,
            **problem_responses({400: INVALID, 404: "No such event or endpoint in this tenant (`not_found`)."}),
        },
    )
    def post(self, request: Request, event_id: str) -> Response:
        tenant = api_client(request).tenant
        try:
            endpoint_id = uuid.UUID(request.query_params.get("endpoint", ""))
        except ValueError:
            return invalid({"endpoint": ["Give the endpoint's id."]})
        event = Event.objects.filter(tenant=tenant, pk=uuid.UUID(event_id.removeprefix(EVENT_ID_PREFIX))).first()
        endpoint = endpoints.endpoint_list(tenant=tenant).filter(pk=endpoint_id).first()
        if event is None or endpoint is None:
            raise NotFound
        endpoints.event_replay(event=event, endpoint=endpoint, actor=actor_of(request))
        return Response(status=status.HTTP_202_ACCEPTED)
