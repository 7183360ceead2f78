"""``GET /api/v1/messages/<message_id>/media/<attachment_id>/``: a stored attachment's bytes, opened.

Always a download (``Content-Disposition: attachment``, ``nosniff``), never cached: the bytes are a
customer's content, and their type comes from Meta or a CDN, not from us.
"""

from __future__ import annotations

import mimetypes
import uuid

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_auth import api_client, scope_required
from accounts.models import ApiScope
from core.api_errors import problem_response
from core.api_schema import problem_responses
from encryption.errors import DecryptionError
from messaging.inbound.media_storage import (
    FALLBACK_MIME_TYPE,
    media_attachment_get,
    media_attachment_is_expired,
    media_attachment_read,
)
from messaging.models import MediaAttachment, MediaStatus

NOT_READY = {
    MediaStatus.PENDING: ("media_pending", "The media is still being downloaded; try again shortly."),
    MediaStatus.FAILED: ("media_failed", "The media could not be downloaded from Meta; it will not be."),
}

EXPIRED_DETAIL = "The media expired under the retention policy and is no longer served."


class MediaDownloadApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.MESSAGES_READ)]

    @extend_schema(
        operation_id="messages_media_download",
        description="The bytes of one media attachment of a message (requires `messages:read`), as a download "
        "with the stored MIME type. The message's `attachments` list names each attachment and its status.",
        responses={
            # Any type: the stored MIME type, from Meta or a CDN.
            (200, "*/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The file."),
            **problem_responses(
                {
                    404: "No such message or attachment in this tenant (`not_found`), or its content is no longer "
                    "available (`media_unavailable`).",
                    409: "Not stored: `code` is `media_pending` (retry later) or `media_failed`.",
                    410: "Past its retention (`media_expired`): the file, or its message's content, expired under "
                    "the tenant's retention policy and is never served again.",
                }
            ),
        },
    )
    def get(self, request: Request, message_id: uuid.UUID, attachment_id: uuid.UUID) -> HttpResponse | Response:
        client = api_client(request)
        try:
            attachment = media_attachment_get(
                tenant_id=client.tenant.pk, message_id=message_id, attachment_id=attachment_id
            )
        except MediaAttachment.DoesNotExist:
            raise NotFound from None
        if media_attachment_is_expired(attachment):
            return problem_response(410, "media_expired", EXPIRED_DETAIL)
        if attachment.status in NOT_READY:
            code, detail = NOT_READY[MediaStatus(attachment.status)]
            return problem_response(409, code, detail)
        try:
            data = media_attachment_read(attachment=attachment)
        except (DecryptionError, FileNotFoundError):
            return problem_response(404, "media_unavailable", "The media is no longer available.")
        return _download(attachment, data)


def _download(attachment: MediaAttachment, data: bytes) -> HttpResponse:
    mime_type = attachment.mime_type or FALLBACK_MIME_TYPE
    extension = mimetypes.guess_extension(mime_type.split(";")[0].strip()) or ".bin"
    response = HttpResponse(data, content_type=mime_type)
    response["Content-Disposition"] = f'attachment; filename="{attachment.pk}{extension}"'
    response["Content-Length"] = str(len(data))
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response
