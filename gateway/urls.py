from django.contrib import admin
from django.urls import include, path

from console.api_docs import ApiDocsRedocView, ApiDocsSwaggerView

urlpatterns = [
    path("webhooks/", include("webhooks.urls")),
    path("admin/reports/", include("console.reports.admin_urls")),  # before admin/: its catch-all would take it
    path("admin/", admin.site.urls),
    path("account/passkeys/", include("accounts.passkeys.urls")),  # WebAuthn ceremonies (django-otp-webauthn)
    path("account/", include("accounts.urls")),
    path("api/v1/", include("accounts.api_urls")),
    path("api/v1/", include("policies.retention.urls")),
    path("api/v1/", include("policies.subjects.urls")),
    path("api/v1/", include("events.urls")),
    path("api/v1/", include("console.reports.urls")),
    path("api/docs/", ApiDocsSwaggerView.as_view(), name="api-docs"),
    path("api/docs/redoc/", ApiDocsRedocView.as_view(), name="api-docs-redoc"),
    path("", include("console.urls")),
]
