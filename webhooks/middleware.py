"""The webhook edge's short way through the middleware."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

from webhooks.views import meta_webhook

WEBHOOK_PREFIX = "/webhooks/"


class WebhookEdgeMiddleware:
    """Answer Meta's webhook POSTs straight from their view, past the middleware listed after this one.

    That middleware serves browser sessions: sessions, authentication and its step-up, the session lifetime,
    messages, CSRF (the view is exempt anyway), slash redirects and the frame header. A webhook carries no
    cookie and is authenticated by its signature alone, so all of it had nothing to do, yet cost about 15 % of
    a webhook request's CPU under load (and about 17 % more acks/s without it, in bench/ingest.py's conditions).
    Placed right after SecurityMiddleware, so the HTTPS redirect and HSTS still apply; the Host header is
    still checked against ALLOWED_HOSTS. Any other path, and a webhook path that resolves to no view, goes
    the usual way.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(WEBHOOK_PREFIX):
            return self.get_response(request)
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return self.get_response(request)
        if match.func is not meta_webhook:
            return self.get_response(request)
        request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware would check it: DisallowedHost answers 400
        request.resolver_match = match
        return meta_webhook(request, *match.args, **match.kwargs)
