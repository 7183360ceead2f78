"""Event endpoints over the API (``/api/v1/event-endpoints/``, scope ``events:manage``). One view per operation.

The tenant is the API key's; another tenant's endpoint answers the same 404 as an unknown one. The signing
secret is in the answers of creation and rotation only. A refused value answers 400 ``invalid_request`` with the
errors per field, as a send does. Every change is audited by ``events.endpoints``.
"""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from accounts.actors import Actor
from accounts.api_auth import api_client, scope_required
from accounts.models import ApiScope
from core.api_errors import INVALID_REQUEST, field_errors, problem_response
from core.api_schema import BAD_CURSOR, invalid_request, problem_responses
from core.clientip import client_ip
from events import endpoints, services
from events.models import DeliveryAttempt, Endpoint
from events.serializers import (
    AttemptFilterSerializer,
    AttemptOutputSerializer,
    CountOutputSerializer,
    EndpointDetailOutputSerializer,
    EndpointInputSerializer,
    EndpointOutputSerializer,
    EndpointWithSecretOutputSerializer,
    ReplayInputSerializer,
    RotateInputSerializer,
    backlog_fields,
)
from messaging.api_lists import BAD_FILTER, PAGE_PARAMETERS, NewestFirstPagination, page_of, paginate

MANAGE: list[type[BasePermission]] = [IsAuthenticated, scope_required(ApiScope.EVENTS_MANAGE)]
INVALID = invalid_request("A value is refused (`invalid_request`); `errors` names each field.")
NOT_FOUND = "No such endpoint in this tenant (`not_found`)."


class AttemptPagination(NewestFirstPagination):
    ordering = ("-attempted_at", "-id")


def actor_of(request: Request) -> Actor:
    return Actor(label=f"api_key:{api_client(request).api_key.key_id}", ip=client_ip(request._request))


def invalid(fields: Any, detail: str = "The request does not match the schema.") -> Response:
    return problem_response(400, INVALID_REQUEST, detail, errors=field_errors(fields))


def refused(error: endpoints.EndpointError) -> Response:
    return invalid({error.field: [str(error)]}, "A value was refused.")


def endpoint_of(request: Request, endpoint_id: uuid.UUID) -> Endpoint:
    try:
        return endpoints.endpoint_get(tenant=api_client(request).tenant, endpoint_id=endpoint_id)
    except Endpoint.DoesNotExist:
        raise NotFound from None


def valid_body(serializer: Serializer[Any]) -> Response | None:
    """None when ``serializer`` accepts the body, else the 400 answer."""
    return None if serializer.is_valid() else invalid(serializer.errors)


class EndpointCollectionApi(APIView):
    permission_classes = MANAGE

    @extend_schema(
        operation_id="event_endpoints_list",
        description="The tenant's event endpoints, newest first (requires `events:manage`). Secrets are never "
        "returned.",
        parameters=PAGE_PARAMETERS,
        responses={
            200: page_of("EventEndpointPage", EndpointOutputSerializer(many=True)),
            **problem_responses({404: BAD_CURSOR}),
        },
    )
    def get(self, request: Request) -> Response:
        rows = endpoints.endpoint_list(tenant=api_client(request).tenant)
        paginator, page = paginate(view=self, request=request, queryset=rows, pagination=NewestFirstPagination)
        return paginator.get_paginated_response(EndpointOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="event_endpoints_create",
        description="Register an endpoint (requires `events:manage`). The answer holds its signing secret, the "
        "only time it is ever returned.",
        request=EndpointInputSerializer,
        responses={201: EndpointWithSecretOutputSerializer, **problem_responses({400: INVALID}, has_body=True)},
    )
    def post(self, request: Request) -> Response:
        serializer = EndpointInputSerializer(data=request.data)
        if (answer := valid_body(serializer)) is not None:
            return answer
        client = api_client(request)
        try:
            created = endpoints.endpoint_create(
                tenant=client.tenant, values=serializer.validated_data, actor=actor_of(request)
            )
        except endpoints.EndpointError as error:
            return refused(error)
        body = {**EndpointOutputSerializer(created.endpoint).data, "secret": created.secret}
        return Response(body, status=status.HTTP_201_CREATED)


class EndpointDetailApi(APIView):
    permission_classes = MANAGE

    @extend_schema(
        operation_id="event_endpoints_retrieve",
        description="One endpoint with its backlog (requires `events:manage`). The secret is never returned.",
        responses={200: EndpointDetailOutputSerializer, **problem_responses({404: NOT_FOUND})},
    )
    def get(self, request: Request, endpoint_id: uuid.UUID) -> Response:
        endpoint = endpoint_of(request, endpoint_id)
        backlog = services.endpoint_backlog(endpoint=endpoint)
        return Response({**EndpointOutputSerializer(endpoint).data, "backlog": backlog_fields(backlog)})

    @extend_schema(
        operation_id="event_endpoints_update",
        description="Change the given fields (requires `events:manage`). Enabling an endpoint the gateway "
        "disabled clears the reason and the failure clock.",
        request=EndpointInputSerializer(partial=True),
        responses={200: EndpointOutputSerializer, **problem_responses({400: INVALID, 404: NOT_FOUND}, has_body=True)},
    )
    def patch(self, request: Request, endpoint_id: uuid.UUID) -> Response:
        endpoint = endpoint_of(request, endpoint_id)
        serializer = EndpointInputSerializer(data=request.data, partial=True)
        if (answer := valid_body(serializer)) is not None:
            return answer
        try:
            endpoints.endpoint_change(endpoint=endpoint, values=serializer.validated_data, actor=actor_of(request))
        except endpoints.EndpointError as error:
            return refused(error)
        return Response(EndpointOutputSerializer(endpoint).data)

    @extend_schema(
        operation_id="event_endpoints_destroy",
        description="Delete the endpoint and the deliveries it is owed (requires `events:manage`).",
        responses={204: None, **problem_responses({404: NOT_FOUND})},
    )
    def delete(self, request: Request, endpoint_id: uuid.UUID) -> Response:
        endpoints.endpoint_delete(endpoint=endpoint_of(request, endpoint_id), actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateSecretApi(APIView):
    permission_classes = MANAGE

    @extend_schema(
        operation_id="event_endpoints_rotate_secret",
        description="A new signing secret, returned this once (requires `events:manage`). For `overlap_hours` "
        "(24 unless given, at most 168) each delivery carries both signatures, so the receiver can switch.",
        request=RotateInputSerializer,
        responses={
            200: EndpointWithSecretOutputSerializer,
            **problem_responses({400: INVALID, 404: NOT_FOUND}, has_body=True),
        },
    )
    def post(self, request: Request, endpoint_id: uuid.UUID) -> Response:
        endpoint = endpoint_of(request, endpoint_id)
        serializer = RotateInputSerializer(data=request.data)
        if (answer := valid_body(serializer)) is not None:
            return answer
        overlap = endpoints.overlap_clean(serializer.validated_data.get("overlap_hours"))
        rotated = endpoints.endpoint_secret_rotate(endpoint=endpoint, overlap=overlap, actor=actor_of(request))
        return Response({**EndpointOutputSerializer(rotated.endpoint).data, "secret": rotated.secret})


class EndpointTestApi(APIView):
    permission_classes = MANAGE

    @extend_schema(
        operation_id="event_endpoints_test",
        description="Send a `ping` event to this endpoint only (requires `events:manage`); follow it in the "
        "delivery log.",
        request=None,
        responses={202: None, **problem_responses({404: NOT_FOUND})},
    )
    def post(self, request: Request, endpoint_id: uuid.UUID) -> Response:
        endpoints.endpoint_test(endpoint=endpoint_of(request, endpoint_id), actor=actor_of(request))
        return Response(status=status.HTTP_202_ACCEPTED)


class EndpointReplayApi(APIView):
    permission_classes = MANAGE

    @extend_schema(
        operation_id="event_endpoints_replay",
        description="Deliver again every event the endpoint subscribes to recorded in [`since`, `until`), at "
        "most 31 days (requires `events:manage`). Each keeps its `webhook-id`.",
        request=ReplayInputSerializer,
        responses={202: CountOutputSerializer, **problem_responses({400: INVALID, 404: NOT_FOUND}, has_body=True)},
    )
    def post(self, request: Request, endpoint_id: uuid.UUID) -> Response:
        endpoint = endpoint_of(request, endpoint_id)
        serializer = ReplayInputSerializer(data=request.data)
        if (answer := valid_body(serializer)) is not None:
            return answer
        data = serializer.validated_data
        try:
            count = endpoints.endpoint_events_replay(
                endpoint=endpoint, since=data["since"], until=data["until"], actor=actor_of(request)
            )
        except endpoints.EndpointError as error:
            return refused(error)
        return Response({"count": count}, status=status.HTTP_202_ACCEPTED)


class EndpointResendFailedApi(APIView):
    permission_classes = MANAGE

    @extend_schema(
        operation_id="event_endpoints_resend_failed",
        description="Try again every delivery to this endpoint that used up its retries (requires `events:manage`).",
        request=None,
        responses={202: CountOutputSerializer, **problem_responses({404: NOT_FOUND})},
    )
    def post(self, request: Request, endpoint_id: uuid.UUID) -> Response:
        count = endpoints.endpoint_failed_resend(endpoint=endpoint_of(request, endpoint_id), actor=actor_of(request))
        return Response({"count": count}, status=status.HTTP_202_ACCEPTED)


class EndpointDeliveriesApi(APIView):
    permission_classes = MANAGE

    @extend_schema(
        operation_id="event_endpoints_deliveries",
        description="The delivery log of this endpoint: one row per attempt, newest first (requires "
        "`events:manage`). Filter by the delivery's status now or by event.",
        parameters=[AttemptFilterSerializer, *PAGE_PARAMETERS],
        responses={
            200: page_of("DeliveryAttemptPage", AttemptOutputSerializer(many=True)),
            **problem_responses({400: BAD_FILTER, 404: f"{NOT_FOUND} Or the `cursor` is not one this list gave."}),
        },
    )
    def get(self, request: Request, endpoint_id: uuid.UUID) -> Response:
        endpoint = endpoint_of(request, endpoint_id)
        filters = AttemptFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        attempts = DeliveryAttempt.objects.filter(endpoint=endpoint).select_related("delivery__event")
        if "status" in filters.validated_data:
            attempts = attempts.filter(delivery__status=filters.validated_data["status"])
        if "event" in filters.validated_data:
            event_id = uuid.UUID(filters.validated_data["event"].removeprefix("evt_"))
            attempts = attempts.filter(delivery__event_id=event_id)
        paginator, page = paginate(view=self, request=request, queryset=attempts, pagination=AttemptPagination)
        return paginator.get_paginated_response(AttemptOutputSerializer(page, many=True).data)
