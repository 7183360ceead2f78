"""The API documentation, rendered from the OpenAPI document by Swagger UI or Redoc served from this gateway's own
static files (drf-spectacular-sidecar): no CDN, so the pages work offline and leak no visit to a third party."""

from __future__ import annotations

from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

SCHEMA_URL_NAME = "api-schema"


class ApiDocsSwaggerView(SpectacularSwaggerView):
    """Public like the document it renders; trying an operation needs an API key."""

    authentication_classes = []
    permission_classes = [AllowAny]
    url_name = SCHEMA_URL_NAME


class ApiDocsRedocView(SpectacularRedocView):
    authentication_classes = []
    permission_classes = [AllowAny]
    url_name = SCHEMA_URL_NAME
