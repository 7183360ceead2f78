from django.urls import path

from policies.subjects import api

urlpatterns = [
    path("contacts/<uuid:contact_id>/export/", api.SubjectExportCreateApi.as_view(), name="api-contact-export"),
    path(
        "contacts/<uuid:contact_id>/exports/<uuid:export_id>/",
        api.SubjectExportDetailApi.as_view(),
        name="api-contact-export-detail",
    ),
    path("exports/<uuid:export_id>/download/", api.SubjectExportDownloadApi.as_view(), name="api-export-download"),
    path("contacts/<uuid:contact_id>/erase/", api.ContactEraseApi.as_view(), name="api-contact-erase"),
]
