from django.urls import path

from policies import subject_api

urlpatterns = [
    path("contacts/<uuid:contact_id>/export/", subject_api.SubjectExportCreateApi.as_view(), name="api-contact-export"),
    path(
        "contacts/<uuid:contact_id>/exports/<uuid:export_id>/",
        subject_api.SubjectExportDetailApi.as_view(),
        name="api-contact-export-detail",
    ),
    path(
        "exports/<uuid:export_id>/download/", subject_api.SubjectExportDownloadApi.as_view(), name="api-export-download"
    ),
    path("contacts/<uuid:contact_id>/erase/", subject_api.ContactEraseApi.as_view(), name="api-contact-erase"),
]
