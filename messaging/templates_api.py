"""WhatsApp message templates over the API (``/api/v1/templates/``). Reading takes ``messages:read``; creating,
deleting and syncing take ``templates:manage``. One view per operation.

Every query is scoped to the API key's tenant; another tenant's template answers the same 404 as an unknown one.
A definition refused before Meta is asked answers 400 ``invalid_request`` with the field; Meta refusing or not
answering is 502 ``meta_refused`` with Meta's error code (never its text). Creation, deletion and a sync on
request are audited (``messaging.message_templates``).
"""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.actors import Actor
from accounts.api_auth import api_client, scope_required
from accounts.models import ApiScope
from core.api_errors import INVALID_REQUEST, field_errors, problem_response
from core.api_schema import BAD_CURSOR, invalid_request, problem, problem_responses
from core.clientip import client_ip
from messaging import message_templates
from messaging.api_lists import BAD_FILTER, PAGE_PARAMETERS, NewestFirstPagination, not_found, page_of, paginate
from messaging.errors import MessagingError
from messaging.models import MessageTemplate
from messaging.providers.templates import ParameterFormat, TemplateCategory, TemplateStatus
from messaging.providers.whatsapp.templates.definitions import TemplateDefinition

READ_SCOPE = scope_required(ApiScope.MESSAGES_READ)
MANAGE_SCOPE = scope_required(ApiScope.TEMPLATES_MANAGE)
META_REFUSED = "meta_refused"
INVALID = invalid_request("A value is refused (`invalid_request`); `errors` names each field.")
NOT_FOUND = not_found("template")
META_FAILED = problem("Meta refused the call or did not answer (`meta_refused`); `meta_code` is Meta's error code.")
WABA_ID = serializers.RegexField(r"^[0-9]{1,64}$", help_text="The WhatsApp Business Account id (digits).")


class TemplateOutputSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    waba_id = serializers.CharField()
    name = serializers.CharField()
    language = serializers.CharField()
    category = serializers.CharField()
    status = serializers.ChoiceField(choices=TemplateStatus.choices)
    quality_score = serializers.CharField(help_text="GREEN, YELLOW, RED or UNKNOWN; empty before Meta rated it.")
    parameter_format = serializers.ChoiceField(choices=ParameterFormat.choices)
    components = serializers.JSONField(help_text="The template's components as Meta lists them.")
    rejected_reason = serializers.CharField()
    provider_template_id = serializers.CharField(help_text="The template's id at Meta.")
    synced_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class TemplateFilterSerializer(serializers.Serializer[Any]):
    waba_id = serializers.RegexField(r"^[0-9]{1,64}$", required=False)
    status = serializers.ChoiceField(choices=TemplateStatus.choices, required=False)


class TemplateInputSerializer(serializers.Serializer[Any]):
    waba_id = WABA_ID
    name = serializers.CharField(max_length=512, help_text="Lower-case letters, digits and underscores.")
    language = serializers.CharField(max_length=16, help_text="A language code such as en or en_US.")
    category = serializers.ChoiceField(choices=TemplateCategory.choices)
    parameter_format = serializers.ChoiceField(
        choices=ParameterFormat.choices, default=ParameterFormat.POSITIONAL.value, required=False
    )
    components = serializers.ListField(
        child=serializers.DictField(),
        min_length=1,
        max_length=4,
        help_text="Meta's component objects: HEADER, BODY (required), FOOTER, BUTTONS, each once.",
    )


class SyncInputSerializer(serializers.Serializer[Any]):
    waba_id = WABA_ID


class SyncOutputSerializer(serializers.Serializer[Any]):
    waba_id = serializers.CharField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    removed = serializers.IntegerField()


class TemplatePagination(NewestFirstPagination):
    ordering = ("-created_at", "-id")


def actor_of(request: Request) -> Actor:
    return Actor(label=f"api_key:{api_client(request).api_key.key_id}", ip=client_ip(request._request))


def invalid(fields: Any, detail: str = "The request does not match the schema.") -> Response:
    return problem_response(status.HTTP_400_BAD_REQUEST, INVALID_REQUEST, detail, errors=field_errors(fields))


def refused(error: MessagingError, *, field: str = "waba_id") -> Response:
    """A refusal of the services as the answer it deserves: Meta's (502) or the request's (400)."""
    if isinstance(error, message_templates.TemplateGraphError):
        return problem_response(status.HTTP_502_BAD_GATEWAY, META_REFUSED, str(error), meta_code=error.code)
    if isinstance(error, message_templates.TemplateDefinitionError):
        field = error.field
    return invalid({field: [str(error)]}, "A value was refused.")


def template_of(request: Request, template_id: uuid.UUID) -> MessageTemplate:
    try:
        return message_templates.template_get(tenant=api_client(request).tenant, template_id=template_id)
    except MessageTemplate.DoesNotExist:
        raise NotFound from None


class TemplateCollectionApi(APIView):
    """``/templates/``: GET lists (``messages:read``), POST creates (``templates:manage``)."""

    def get_permissions(self) -> list[BasePermission]:
        scope = MANAGE_SCOPE if self.request.method == "POST" else READ_SCOPE
        return [IsAuthenticated(), scope()]

    @extend_schema(
        operation_id="templates_list",
        description="The tenant's WhatsApp message templates, newest first (requires `messages:read`), as last "
        "synced from Meta or announced by its webhooks.",
        parameters=[TemplateFilterSerializer, *PAGE_PARAMETERS],
        responses={
            200: page_of("TemplatePage", TemplateOutputSerializer(many=True)),
            **problem_responses({400: BAD_FILTER, 404: BAD_CURSOR}),
        },
    )
    def get(self, request: Request) -> Response:
        filters = TemplateFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rows = message_templates.template_list(
            tenant=api_client(request).tenant,
            waba_id=filters.validated_data.get("waba_id"),
            status=filters.validated_data.get("status"),
        )
        paginator, page = paginate(view=self, request=request, queryset=rows, pagination=TemplatePagination)
        return paginator.get_paginated_response(TemplateOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="templates_create",
        description="Submit a template to Meta for review (requires `templates:manage`); the answer is Meta's "
        "first status, usually PENDING. The review's outcome arrives by webhook or the periodic sync. A template "
        "is sendable once APPROVED. Audited.",
        request=TemplateInputSerializer,
        responses={
            201: TemplateOutputSerializer,
            **problem_responses({400: INVALID, 502: META_FAILED}, has_body=True),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = TemplateInputSerializer(data=request.data)
        if not serializer.is_valid():
            return invalid(serializer.errors)
        data = serializer.validated_data
        definition = TemplateDefinition(
            name=data["name"],
            language=data["language"],
            category=data["category"],
            components=[dict(component) for component in data["components"]],
            parameter_format=data["parameter_format"],
        )
        try:
            template = message_templates.template_create(
                tenant=api_client(request).tenant,
                waba_id=data["waba_id"],
                definition=definition,
                actor=actor_of(request),
            )
        except MessagingError as error:
            return refused(error)
        return Response(TemplateOutputSerializer(template).data, status=status.HTTP_201_CREATED)


class TemplateDetailApi(APIView):
    """``/templates/<id>/``: GET (``messages:read``), DELETE (``templates:manage``)."""

    def get_permissions(self) -> list[BasePermission]:
        scope = MANAGE_SCOPE if self.request.method == "DELETE" else READ_SCOPE
        return [IsAuthenticated(), scope()]

    @extend_schema(
        operation_id="templates_retrieve",
        description="One of the tenant's templates (requires `messages:read`).",
        responses={200: TemplateOutputSerializer, **problem_responses({404: NOT_FOUND})},
    )
    def get(self, request: Request, template_id: uuid.UUID) -> Response:
        return Response(TemplateOutputSerializer(template_of(request, template_id)).data)

    @extend_schema(
        operation_id="templates_destroy",
        description="Delete this language of the template at Meta, then here (requires `templates:manage`). "
        "Meta keeps the name taken for a while after. Audited.",
        responses={204: None, **problem_responses({400: INVALID, 404: NOT_FOUND, 502: META_FAILED})},
    )
    def delete(self, request: Request, template_id: uuid.UUID) -> Response:
        template = template_of(request, template_id)
        try:
            message_templates.template_delete(template=template, actor=actor_of(request))
        except MessagingError as error:
            return refused(error, field="id")
        return Response(status=status.HTTP_204_NO_CONTENT)


class TemplateSyncApi(APIView):
    permission_classes = [IsAuthenticated, MANAGE_SCOPE]

    @extend_schema(
        operation_id="templates_sync",
        description="Sync one WhatsApp Business Account's templates from Meta now (requires `templates:manage`): "
        "rows become what Meta lists. The gateway also syncs every account periodically. Audited.",
        request=SyncInputSerializer,
        responses={200: SyncOutputSerializer, **problem_responses({400: INVALID, 502: META_FAILED}, has_body=True)},
    )
    def post(self, request: Request) -> Response:
        serializer = SyncInputSerializer(data=request.data)
        if not serializer.is_valid():
            return invalid(serializer.errors)
        try:
            result = message_templates.templates_sync(
                tenant=api_client(request).tenant, waba_id=serializer.validated_data["waba_id"], actor=actor_of(request)
            )
        except MessagingError as error:
            return refused(error)
        return Response(SyncOutputSerializer(result).data)
