"""A URLconf for the step-up tests: one guarded page and one guarded session-authenticated API view."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.stepup import FreshStepUp, step_up_required


@step_up_required
def sensitive_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("done")


class SensitiveApiView(APIView):
    authentication_classes = [SessionAuthentication]
    permission_classes = [FreshStepUp]

    def post(self, request: Request) -> Response:
        return Response({"done": True})


urlpatterns = [
    path("account/", include("accounts.urls")),
    path("sensitive/", sensitive_page),
    path("sensitive-api/", SensitiveApiView.as_view()),
]
