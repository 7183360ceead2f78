from django.urls import include, path

from accounts import api

urlpatterns = [
    path("tenant/", api.TenantDetailApi.as_view(), name="api-tenant-detail"),
    path("api-keys/", api.ApiKeyListApi.as_view(), name="api-key-list"),
    path("api-keys/<uuid:api_key_id>/", api.ApiKeyDetailApi.as_view(), name="api-key-detail"),
    path("schema/", api.SchemaApi.as_view(), name="api-schema"),
    path("", include("messaging.api_urls")),
]
