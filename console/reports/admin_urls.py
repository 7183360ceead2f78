from django.contrib import admin
from django.urls import path

from console.reports.admin_views import transparency_report_view

urlpatterns = [
    path(
        "tenants/<uuid:tenant_id>/transparency/",
        admin.site.admin_view(transparency_report_view),
        name="console-transparency-report",
    ),
]
