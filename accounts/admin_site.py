from __future__ import annotations

from typing import Any

from django.contrib.admin import AdminSite
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode

from accounts.mfa import is_verified


class GatewayAdminSite(AdminSite):
    """Every admin page needs an active staff user whose session passed OTP; superusers included.

    The admin's own login form is never shown: it sends people through the gateway's login,
    which forces enrolment for users without a device.
    """

    site_header = "Meta gateway"
    site_title = "Meta gateway admin"
    index_title = "Administration"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and is_verified(user))

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.user.is_authenticated and is_verified(request.user):
            # Verified but not active staff: sending them to log in again would loop.
            return render(request, "accounts/no_access.html", status=403)
        next_url = request.GET.get("next") or reverse("admin:index")
        return HttpResponseRedirect(f"{reverse('accounts:login')}?{urlencode({'next': next_url})}")
