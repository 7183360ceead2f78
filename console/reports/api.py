"""Transparency reports over the API (``reports:read``): issue the key's tenant's report for a period, as JSON or
PDF, and look up an issued report by its digest. Every lookup starts from the API key's tenant."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.actors import Actor
from accounts.api_auth import api_client, scope_required
from accounts.models import ApiScope
from audit.selectors import audit_chain_verify
from console.reports.digest import report_issuance_find
from console.reports.periods import PeriodError
from console.reports.selectors import period_choose
from console.reports.services import ReportFormat, transparency_report_issue
from core.api_schema import invalid_request, problem_responses
from core.clientip import client_ip

API_FORMATS = (ReportFormat.JSON, ReportFormat.PDF)


class FirstRendererNegotiation(DefaultContentNegotiation):
    """``format`` names the report's format here, not a renderer: errors are always problem documents."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        first = next(iter(renderers))
        return first, str(first.media_type)


class ReportQuerySerializer(serializers.Serializer[Any]):
    period = serializers.CharField(required=False, help_text="`YYYY-MM` (a month) or `YYYY-Qn` (a quarter), UTC.")
    start = serializers.DateField(
        required=False, source="first", help_text="Instead of `period`: first day (with `end`)."
    )
    end = serializers.DateField(required=False, source="last", help_text="Last day, included.")
    format = serializers.ChoiceField(choices=[str(choice) for choice in API_FORMATS], default=ReportFormat.JSON)


class AuditPlaceSerializer(serializers.Serializer[Any]):
    chain = serializers.CharField(help_text="The tenant's audit chain (its id).")
    seq = serializers.IntegerField(help_text="The issuing event's place in the chain.")


class ReportCopySerializer(serializers.Serializer[Any]):
    digest = serializers.CharField(
        help_text="SHA-256 of the canonical JSON of `figures` (docs/transparency-reports.md)."
    )
    audit = AuditPlaceSerializer()
    figures = serializers.JSONField(help_text="The figures; each is described in docs/transparency-reports.md.")


class ReportIssuanceSerializer(serializers.Serializer[Any]):
    digest = serializers.CharField()
    period = serializers.CharField()
    format = serializers.CharField()
    issued_at = serializers.DateTimeField()
    audit = AuditPlaceSerializer()
    chain_intact = serializers.BooleanField(help_text="The tenant's audit chain verifies up to its head.")


def _actor(request: Request) -> Actor:
    return Actor(label=f"api_key:{api_client(request).api_key.key_id}", ip=client_ip(request._request))


class TransparencyReportApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.REPORTS_READ)]
    content_negotiation_class = FirstRendererNegotiation

    @extend_schema(
        operation_id="reports_transparency_retrieve",
        description="Issue the tenant's transparency report for a period (requires `reports:read`): `period` or "
        "`start` and `end`; `format=json` (the figures and their digest) or `format=pdf`. Each call records the "
        "digest on the tenant's audit chain.",
        parameters=[ReportQuerySerializer],
        responses={
            (200, "application/json"): ReportCopySerializer,
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The report, charts included."),
            **problem_responses({400: invalid_request("No period, or one that cannot be read (`invalid_request`).")}),
        },
    )
    def get(self, request: Request) -> HttpResponse:
        query = ReportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        try:
            period = period_choose(
                period=values.get("period"),
                first=_iso(values.get("first")),
                last=_iso(values.get("last")),
            )
        except PeriodError as error:
            raise ValidationError({"period": [str(error)]}) from None
        issued = transparency_report_issue(
            tenant=api_client(request).tenant,
            period=period,
            output_format=ReportFormat(values["format"]),
            actor=_actor(request),
        )
        response = HttpResponse(issued.body, content_type=issued.content_type)
        response["Content-Disposition"] = f'attachment; filename="{issued.filename}"'
        response["Cache-Control"] = "no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response


def _iso(day: Any) -> str | None:
    return None if day is None else str(day.isoformat())


class TransparencyIssuanceApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.REPORTS_READ)]

    @extend_schema(
        operation_id="reports_transparency_issued_retrieve",
        description="Look up a report of this tenant by the digest printed in a copy (requires `reports:read`): "
        "when and for which period it was issued, where on the audit chain, and whether the chain verifies.",
        responses={200: ReportIssuanceSerializer, **problem_responses({404: "No report of this tenant has it."})},
    )
    def get(self, request: Request, digest: str) -> Response:
        chain = str(api_client(request).tenant.pk)
        event = report_issuance_find(digest=digest.lower(), chain=chain)
        if event is None:
            raise NotFound
        document = {
            "digest": event.target_id,
            "period": event.details.get("period", ""),
            "format": event.details.get("format", ""),
            "issued_at": event.occurred_at,
            "audit": {"chain": event.chain, "seq": event.seq},
            "chain_intact": audit_chain_verify(chain=chain).broken_at is None,
        }
        return Response(ReportIssuanceSerializer(document).data)
