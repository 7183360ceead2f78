"""Step-up ("sudo mode"): sensitive actions need an OTP passed within STEP_UP_SECONDS."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode
from rest_framework import exceptions, permissions
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.mfa import has_fresh_step_up

View = Callable[..., HttpResponse]


def step_up_url(next_url: str) -> str:
    return f"{reverse('accounts:step_up')}?{urlencode({'next': next_url})}"


def step_up_required(view: View) -> View:
    """Send the user to re-enter an OTP first when their last one is older than the step-up window."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not has_fresh_step_up(request):
            return HttpResponseRedirect(step_up_url(request.get_full_path()))
        return view(request, *args, **kwargs)

    return guarded


class StepUpRequired(exceptions.PermissionDenied):
    default_detail = "This action needs a fresh one-time password."
    default_code = "step_up_required"


class FreshStepUp(permissions.BasePermission):
    """For session-authenticated API views: 403 ``step_up_required`` without a recent OTP."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not has_fresh_step_up(request._request):
            raise StepUpRequired({"code": "step_up_required", "detail": StepUpRequired.default_detail})
        return True
