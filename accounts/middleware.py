from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from accounts.admin_scope import is_operator, tenant_roles
from core.redis import REDIS_UNAVAILABLE_RETRY_AFTER_SECONDS, redis_outage
from core.tenancy import ALL_TENANTS, all_tenants, edge_scope_set, rls_enforced, scope_value

SESSION_STARTED_AT = "session_started_at"


class SessionLifetimeMiddleware:
    """Ends a session at its absolute lifetime, however active; the idle timeout is the cookie age. Then gives the
    request the database scope of the session's user (``session_scope_set``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = timezone.now().timestamp()
            started = request.session.setdefault(SESSION_STARTED_AT, now)
            if now - float(started) > settings.SESSION_ABSOLUTE_SECONDS:
                logout(request)
        session_scope_set(request)
        return self.get_response(request)


def session_scope_set(request: HttpRequest) -> None:
    """Under row-level security (docs/isolation.md), a signed-in operator's request sees every tenant and a staff
    member's the tenants of their memberships; an anonymous one keeps no tenant. The admin reads the same
    memberships once per request (``tenant_roles``), so this adds no query to an admin page."""
    if not request.user.is_authenticated or not rls_enforced():
        return
    if is_operator(request):
        edge_scope_set(ALL_TENANTS)
        return
    with all_tenants():  # a user's memberships span tenants: they are what the scope is made of
        tenants = tenant_roles(request)
    edge_scope_set(scope_value(tenants))


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
