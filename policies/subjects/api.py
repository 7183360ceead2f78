"""Subject rights over the API: export a contact (``contacts:export``) and erase one (``contacts:erase``).

Every lookup starts from the API key's tenant: another tenant's contact or export answers the same 404 as an
unknown id. Downloads need the key and the link's token; they are audited, as are erasures and their refusals.
Exports count in the ``exports`` rate limit, erasures in ``erasures`` (accounts.api_throttle); a contact has at
most one export queued or being built at a time (a second request answers 409 with that export's id).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from django.db import OperationalError
from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.actors import Actor
from accounts.api_auth import api_client, scope_required
from accounts.models import ApiScope, Tenant
from accounts.rate_limits import ERASURES, EXPORTS
from core.api_errors import problem_response
from core.api_schema import ProblemSerializer, invalid_request, problem, problem_responses
from core.clientip import client_ip
from messaging.models import Contact
from messaging.selectors import contact_get
from policies.models import ExportStatus, SubjectExport
from policies.subjects.erasure import ErasureRefusedError, contact_erase
from policies.subjects.export import (
    SubjectExportRunningError,
    SubjectExportUnavailableError,
    subject_export_download,
    subject_export_get,
    subject_export_link_issue,
    subject_export_request,
)


class RunningExportProblemSerializer(ProblemSerializer):
    export_id = serializers.UUIDField(allow_null=True, help_text="The export under way: read it for its status.")


CHUNK_BYTES = 256 * 1024
UNAVAILABLE_STATUS = {"not_ready": 409, "failed": 409, "invalid_token": 403, "expired": 410, "unavailable": 410}
NOT_FOUND = {404: "No such contact or export in this tenant (`not_found`)."}
RUNNING = problem(
    "An export of the contact is already queued or being built (`export_running`); `export_id` names it.",
    RunningExportProblemSerializer,
)


def _actor(request: Request) -> Actor:
    """API keys act under their public id (never the secret)."""
    return Actor(label=f"api_key:{api_client(request).api_key.key_id}", ip=client_ip(request._request))


def _contact(tenant: Tenant, contact_id: uuid.UUID) -> Contact:
    try:
        return contact_get(tenant=tenant, contact_id=contact_id)
    except Contact.DoesNotExist:
        raise NotFound from None


def _problem(error: SubjectExportUnavailableError) -> Response:
    return problem_response(UNAVAILABLE_STATUS[error.code], error.code, error.detail)


# --- export ------------------------------------------------------------------------------------------------


class SubjectExportOutputSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    contact = serializers.UUIDField(source="contact_id")
    status = serializers.CharField(help_text=f"One of: {', '.join(ExportStatus.values)}.")
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(help_text="The link and the archive go at this time.")
    size = serializers.IntegerField(allow_null=True, help_text="Bytes of the zip, once ready.")
    error_code = serializers.CharField(help_text="Why it failed (empty otherwise).")
    download_url = serializers.CharField(
        allow_null=True,
        help_text="When ready: a fresh link to the zip (needs this API key too). Each read of the export issues a "
        "new link and the previous one stops working.",
    )


def _export_document(export: SubjectExport, download_url: str | None = None) -> dict[str, Any]:
    data = SubjectExportOutputSerializer(export).data
    return {**data, "download_url": download_url}


class SubjectExportCreateApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.CONTACTS_EXPORT)]
    rate_limit_class = EXPORTS

    @extend_schema(
        operation_id="contacts_export_create",
        description="Export everything about one contact (requires `contacts:export`): profile, conversations, "
        "messages with statuses, media files, as a zip built in the background. Read the export for its status "
        "and, once ready, a download link. Expired content is listed as expired, not exported.",
        request=None,
        responses={202: SubjectExportOutputSerializer, **problem_responses({**NOT_FOUND, 409: RUNNING})},
    )
    def post(self, request: Request, contact_id: uuid.UUID) -> Response:
        tenant = api_client(request).tenant
        try:
            export = subject_export_request(tenant=tenant, contact=_contact(tenant, contact_id), actor=_actor(request))
        except SubjectExportRunningError as running:
            detail = "An export of this contact is already queued or being built; read it for its status."
            export_id = str(running.export_id) if running.export_id else None
            return problem_response(409, "export_running", detail, export_id=export_id)
        return Response(_export_document(export), status=202)


class SubjectExportDetailApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.CONTACTS_EXPORT)]

    @extend_schema(
        operation_id="contacts_export_retrieve",
        description="One export of a contact (requires `contacts:export`); once ready, with a fresh download link.",
        responses={200: SubjectExportOutputSerializer, **problem_responses(NOT_FOUND)},
    )
    def get(self, request: Request, contact_id: uuid.UUID, export_id: uuid.UUID) -> Response:
        export = _export(request, export_id)
        if export.contact_id != contact_id:
            raise NotFound
        try:
            token = subject_export_link_issue(export=export, actor=_actor(request))
        except SubjectExportUnavailableError:
            return Response(_export_document(export))
        path = reverse("api-export-download", args=[export.pk])
        return Response(_export_document(export, request.build_absolute_uri(f"{path}?token={token}")))


def _export(request: Request, export_id: uuid.UUID) -> SubjectExport:
    try:
        return subject_export_get(tenant=api_client(request).tenant, export_id=export_id)
    except SubjectExport.DoesNotExist:
        raise NotFound from None


class DownloadQuerySerializer(serializers.Serializer[Any]):
    token = serializers.CharField(max_length=128, help_text="The token of the link the export gave.")


class SubjectExportDownloadApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.CONTACTS_EXPORT)]

    @extend_schema(
        operation_id="exports_download",
        description="The export's zip (requires `contacts:export` and the link's token); every download is audited.",
        parameters=[OpenApiParameter("token", OpenApiTypes.STR, required=True, description="From the link.")],
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The archive."),
            **problem_responses(
                {
                    **NOT_FOUND,
                    400: invalid_request("No token, or a malformed one (`invalid_request`)."),
                    403: "The key lacks the scope (`insufficient_scope`), or the token is not valid (`invalid_token`).",
                    409: "Not ready yet (`not_ready`) or `failed`.",
                    410: "The export has `expired` (or is `unavailable`).",
                }
            ),
        },
    )
    def get(self, request: Request, export_id: uuid.UUID) -> StreamingHttpResponse | Response:
        query = DownloadQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        export = _export(request, export_id)
        try:
            data = subject_export_download(export=export, token=query.validated_data["token"], actor=_actor(request))
        except SubjectExportUnavailableError as error:
            return _problem(error)
        response = StreamingHttpResponse(_chunks(data), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="subject-export-{export.pk}.zip"'
        response["Content-Length"] = str(len(data))
        response["Cache-Control"] = "no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response


def _chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), CHUNK_BYTES):
        yield data[start : start + CHUNK_BYTES]


# --- erasure -----------------------------------------------------------------------------------------------


class ErasureOutputSerializer(serializers.Serializer[Any]):
    contact = serializers.UUIDField(source="contact_id")
    erased_at = serializers.DateTimeField()
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Rows, files and keys removed.")
    receipt_sha256 = serializers.CharField(help_text="SHA-256 of the erasure receipt in the audit log.")


class ContactEraseApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.CONTACTS_ERASE)]
    rate_limit_class = ERASURES

    @extend_schema(
        operation_id="contacts_erase",
        description="Erase a contact (requires `contacts:erase`): its messages, media, statuses and conversations "
        "are deleted, its subject key destroyed; a tombstone without personal data and an audited receipt stay. "
        "Refused (409, `legal_hold`) while a legal hold covers it. A later message from the same person starts a "
        "new contact.",
        request=None,
        responses={
            200: ErasureOutputSerializer,
            **problem_responses(
                {
                    **NOT_FOUND,
                    409: "A legal hold covers the contact (`legal_hold`).",
                    503: "Busy (`busy`): send the same request again; or a service is out of reach "
                    "(`service_unavailable`).",
                }
            ),
        },
    )
    def post(self, request: Request, contact_id: uuid.UUID) -> Response:
        tenant = api_client(request).tenant
        contact = _contact(tenant, contact_id)
        try:
            tombstone = contact_erase(tenant=tenant, contact=contact, actor=_actor(request))
        except ErasureRefusedError as refusal:
            return problem_response(409, "legal_hold", refusal.detail)
        except Contact.DoesNotExist:
            raise NotFound from None
        except OperationalError:  # a lock it would not wait for: what is done stays done, a retry finishes it
            detail = "The erasure gave way to other work; send the same request again to finish it."
            return problem_response(503, "busy", detail)
        return Response(ErasureOutputSerializer(tombstone).data)
