"""The account's security page: the user's passkeys, to add (the library's script), name and remove.

Every change to the user's second factors needs a fresh step-up, like other device changes: the page itself
asks for one, and so do the registration endpoints and the removal behind it.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from accounts.actors import actor_audit
from accounts.mfa import confirmed_totp_device, has_fresh_step_up
from accounts.models import BackupCode, User
from accounts.passkeys.services import passkey_remove, passkey_rename, passkeys_of
from accounts.shown_once import see_other
from accounts.stepup import step_up_required, step_up_url
from audit.models import AuditAction


def _security_url() -> str:
    return reverse("accounts:security")


@login_required
@step_up_required
@require_http_methods(["GET", "POST"])
def security_view(request: HttpRequest) -> HttpResponse:
    """GET lists the second factors; POST names one of the user's passkeys."""
    user: User = request.user  # type: ignore[assignment]
    if request.method == "POST":
        renamed = passkey_rename(
            user=user, passkey_id=_passkey_id(request.POST.get("passkey", "")), name=request.POST.get("name", "")
        )
        if not renamed:
            raise Http404("No such passkey.")
        return see_other(_security_url())
    context = {
        "passkeys": passkeys_of(user),
        "has_totp": confirmed_totp_device(user) is not None,
        "backup_codes_left": BackupCode.objects.filter(
            device__user=user, device__confirmed=True, used_at__isnull=True
        ).count(),
        "next": _security_url(),
    }
    response = render(request, "accounts/security.html", context)
    add_never_cache_headers(response)
    return response


@login_required
@require_POST
def passkey_remove_view(request: HttpRequest, passkey_id: int) -> HttpResponse:
    """Remove one of the user's passkeys; another user's (or none) is a 404. A stale step-up asks again first."""
    if not has_fresh_step_up(request):
        return HttpResponseRedirect(step_up_url(_security_url()))
    user: User = request.user  # type: ignore[assignment]
    if not passkey_remove(user=user, passkey_id=passkey_id):
        raise Http404("No such passkey.")
    actor_audit(request, AuditAction.PASSKEY_REMOVED, passkey=passkey_id)
    return see_other(_security_url())


def _passkey_id(raw: str) -> int:
    return int(raw) if raw.isdigit() else 0
