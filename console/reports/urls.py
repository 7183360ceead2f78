from django.urls import path, register_converter

from console.reports import api


class DigestConverter:
    regex = "[0-9a-fA-F]{64}"

    def to_python(self, value: str) -> str:
        return value.lower()

    def to_url(self, value: str) -> str:
        return value


register_converter(DigestConverter, "digest")

urlpatterns = [
    path("reports/transparency/", api.TransparencyReportApi.as_view(), name="api-transparency-report"),
    path(
        "reports/transparency/issued/<digest:digest>/",
        api.TransparencyIssuanceApi.as_view(),
        name="api-transparency-issued",
    ),
]
