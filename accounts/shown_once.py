"""Secrets shown once, through post/redirect/get.

The POST that makes a secret (an API key, backup codes, an authenticator's setup key, a generated verify
token) gives it to ``shown_once_hold`` and answers ``see_other``: a 303 to a page that calls
``shown_once_take``. The first GET of that page gets the secret; a reload, the back button, a second tab or
another session of the same user gets None, and the page says the secret was already shown. Reloading
sends the GET again, never the POST, so it cannot make a second secret.

Where the secret waits between the two requests, and why there:

- Not in the URL (access logs, history, ``Referer``), and not in a cookie: a signed cookie is readable by
  the browser and by anything that logs request headers, and even an encrypted one sends a full credential
  with every later request and leaves it in the browser's storage until the cookie expires.
- Not in the session: the sessions are rows of ``django_session`` whose data is signed and base64-encoded,
  not encrypted, so a secret there would be plaintext in a database column (and its backups) for as long
  as the session lives. Loading and saving a session is not atomic either: two concurrent GETs could both
  find the secret.
- Not in the cache: without ``REDIS_URL`` it is per-process memory, and the GET after the redirect may
  reach another web worker; with Redis, the value would sit in Redis's persistence files in the clear.

So it waits in an ``OneTimeSecret`` row: the payload sealed (AES-256-GCM) by the encryption package under
the operator's secret keys and bound to that row, so the ciphertext opens nowhere else; the row's random id
is kept in the session that made it (the only thing the session holds), and the row names its user. Taking
it is a conditional DELETE: of two concurrent GETs, exactly one deletes the row and shows the secret. A row
lives ``HOLD_SECONDS`` at most: past that it is never shown, and expired rows are deleted by the next hold
or take. A database backup taken meanwhile holds only ciphertext that opens with the root key, like the app
secrets and TOTP seeds the database keeps for good.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from accounts.models import OneTimeSecret, User

HOLD_SECONDS = 300
SESSION_KEY = "shown_once"

_RowT = TypeVar("_RowT", bound=Model)


def see_other(url: str) -> HttpResponseRedirect:
    """The redirect after a POST (303: the browser follows it with a GET, and a reload repeats only that)."""
    return HttpResponseRedirect(url, status=303)


def shown_once_hold(request: HttpRequest, *, purpose: str, payload: dict[str, Any]) -> None:
    """Keep ``payload`` (JSON) for this session's next ``shown_once_take`` of ``purpose``; one not yet taken
    for the same purpose is dropped."""
    now = timezone.now()
    _expired_delete(now)
    held = OneTimeSecret.objects.create(
        user=_user(request), purpose=purpose, payload=payload, expires_at=now + timedelta(seconds=HOLD_SECONDS)
    )
    waiting = _waiting(request)
    if purpose in waiting:
        OneTimeSecret.objects.filter(pk=waiting[purpose]).delete()
    request.session[SESSION_KEY] = {**waiting, purpose: str(held.pk)}


def shown_once_take(request: HttpRequest, *, purpose: str) -> dict[str, Any] | None:
    """The payload held for ``purpose`` by this session, once; None ever after (or once it expired)."""
    waiting = _waiting(request)
    held_id = waiting.pop(purpose, None)
    if held_id is None or not isinstance(request.user, User):
        return None
    request.session[SESSION_KEY] = waiting
    now = timezone.now()
    _expired_delete(now)
    mine = OneTimeSecret.objects.filter(pk=held_id, user=request.user, purpose=purpose, expires_at__gt=now)
    held = mine.first()
    if held is None or OneTimeSecret.objects.filter(pk=held.pk).delete()[0] != 1:
        return None  # expired, not this user's, or taken by a concurrent request that deleted it first
    payload: dict[str, Any] = held.payload
    return payload


def shown_once_admin_page(
    request: HttpRequest,
    model_admin: ModelAdmin[_RowT],
    *,
    purpose: str,
    row_key: str,
    template: str,
    title: str,
    shown_title: str,
    context: Callable[[_RowT | None, dict[str, Any]], dict[str, Any]],
) -> HttpResponse:
    """The admin page a ``see_other`` leads to after a ``shown_once_hold`` of ``purpose``: ``context`` gets the
    row whose id the payload holds under ``row_key`` (among the rows ``model_admin`` shows this user) and the
    payload, once; a reload gets None and an empty payload, under ``shown_title`` (it was already shown)."""
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    held = shown_once_take(request, purpose=purpose)
    row = model_admin.get_queryset(request).filter(pk=held[row_key]).first() if held else None
    page = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title if row else shown_title,
        **context(row, held if held and row else {}),
    }
    response = TemplateResponse(request, template, page)
    add_never_cache_headers(response)
    return response


def _user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):
        raise PermissionDenied  # only a signed-in user makes a secret to show
    return request.user


def _waiting(request: HttpRequest) -> dict[str, str]:
    waiting = request.session.get(SESSION_KEY)
    return dict(waiting) if isinstance(waiting, dict) else {}


def _expired_delete(now: datetime) -> None:
    OneTimeSecret.objects.filter(expires_at__lte=now).delete()
