"""The transparency report in the admin: a period picker per tenant, then the report as HTML or PDF.

Tenant-scoped: operators, and the tenant's members whose role may view its audit log (``Area.AUDIT``); for anyone
else the tenant does not exist (404). Each report shown is issued, so its digest is on the tenant's chain.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from accounts.actors import actor_from_request
from accounts.admin_scope import Area, Capability, is_operator, tenants_with
from accounts.models import Tenant
from console.reports.periods import PeriodError
from console.reports.selectors import period_choose
from console.reports.services import ReportFormat, transparency_report_issue

FORM_TEMPLATE = "admin/console/transparency_form.html"


class PeriodForm(forms.Form):
    period = forms.CharField(required=False, help_text="YYYY-MM (a month) or YYYY-Qn (a quarter), UTC.")
    start = forms.DateField(
        required=False, help_text="Or from this day…", widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        required=False, help_text="…to this day, included.", widget=forms.DateInput(attrs={"type": "date"})
    )
    format = forms.ChoiceField(choices=[(ReportFormat.HTML, "HTML page"), (ReportFormat.PDF, "PDF")])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("start"), cleaned.get("end")
        try:
            cleaned["report_period"] = period_choose(
                period=cleaned.get("period") or None,
                first=start.isoformat() if start else None,
                last=end.isoformat() if end else None,
            )
        except PeriodError as error:
            raise forms.ValidationError(str(error)) from None
        return cleaned


def _tenant_for(request: HttpRequest, tenant_id: uuid.UUID) -> Tenant:
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        raise Http404("No such tenant.")
    if not is_operator(request) and tenant.pk not in tenants_with(request, Area.AUDIT, Capability.VIEW):
        raise Http404("No such tenant.")
    return tenant


def _last_month(today: date) -> str:
    return (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


@never_cache
def transparency_report_view(request: HttpRequest, tenant_id: uuid.UUID) -> HttpResponse:
    tenant = _tenant_for(request, tenant_id)
    if "format" not in request.GET:
        form = PeriodForm(initial={"period": _last_month(timezone.now().date()), "format": ReportFormat.HTML})
        return _form_page(request, tenant, form)
    form = PeriodForm(request.GET)
    if not form.is_valid():
        return _form_page(request, tenant, form, status=400)
    issued = transparency_report_issue(
        tenant=tenant,
        period=form.cleaned_data["report_period"],
        output_format=ReportFormat(form.cleaned_data["format"]),
        actor=actor_from_request(request),
    )
    response = HttpResponse(issued.body, content_type=issued.content_type)
    if issued.content_type != "text/html; charset=utf-8":
        response["Content-Disposition"] = f'attachment; filename="{issued.filename}"'
    return response


def _form_page(request: HttpRequest, tenant: Tenant, form: PeriodForm, *, status: int = 200) -> TemplateResponse:
    context = {
        **admin.site.each_context(request),
        "title": f"Transparency report of {tenant.name}",
        "tenant": tenant,
        "form": form,
    }
    return TemplateResponse(request, FORM_TEMPLATE, context, status=status)
