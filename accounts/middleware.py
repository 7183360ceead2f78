from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from core.redis import REDIS_UNAVAILABLE_RETRY_AFTER_SECONDS, redis_outage

SESSION_STARTED_AT = "session_started_at"


class SessionLifetimeMiddleware:
    """Ends a session at its absolute lifetime, however active; the idle timeout is the cookie age."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = timezone.now().timestamp()
            started = request.session.setdefault(SESSION_STARTED_AT, now)
            if now - float(started) > settings.SESSION_ABSOLUTE_SECONDS:
                logout(request)
        return self.get_response(request)


class RedisUnavailableMiddleware:
    """A browser request that needs Redis (the login and OTP throttles, a named lock) while it is unreachable
    answers a plain 503 with Retry-After: never a 500, and never the request let through without its throttle.
    The API answers the same in its own shape (core.api_errors)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not redis_outage(exception):
            return None
        response = render(request, "accounts/unavailable.html", status=503)
        response["Retry-After"] = str(REDIS_UNAVAILABLE_RETRY_AFTER_SECONDS)
        add_never_cache_headers(response)
        return response
