"""What the list operations of the API share: cursor pages newest first, their OpenAPI shape, and the
``updated_since`` filter."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.views import APIView

from core.api_schema import invalid_request, problem

BAD_FILTER = invalid_request("A filter value is malformed (`invalid_request`); `errors` names each parameter.")
RowT = TypeVar("RowT", bound=Model)
PAGE_PARAMETERS = [
    OpenApiParameter("cursor", OpenApiTypes.STR, description="The opaque cursor from `next` or `previous`."),
    OpenApiParameter("page_size", OpenApiTypes.INT, description="Rows per page: 50 unless given, at most 200."),
]


def not_found(what: str) -> OpenApiResponse:
    return problem(f"No such {what} in this tenant (`not_found`).")


def page_of(name: str, serializer: serializers.BaseSerializer[Any]) -> serializers.Serializer[Any]:
    return inline_serializer(
        name=name,
        fields={
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer,
        },
    )


UPDATED_SINCE = serializers.DateTimeField(
    required=False,
    help_text="ISO 8601; changed at or after (a status moved, a message arrived): poll from the last poll's time.",
)


class NewestFirstPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def paginate(
    *, view: APIView, request: Request, queryset: QuerySet[RowT], pagination: type[CursorPagination]
) -> tuple[CursorPagination, list[RowT]]:
    paginator = pagination()
    rows = paginator.paginate_queryset(queryset, request, view=view) or []
    return paginator, rows
