"""Login → OTP (or forced enrolment) → the admin. Step-up reuses the OTP page."""

from __future__ import annotations

import uuid

from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import throttles
from accounts.actors import Actor, actor_from_request
from accounts.actors import actor_audit as _audit
from accounts.forms import LoginForm, TokenForm
from accounts.mfa import (
    backup_codes_issue,
    confirmed_totp_device,
    is_verified,
    otp_match,
    session_mark_verified,
    totp_device_pending,
    totp_device_start,
    totp_provisioning_uri,
    totp_secret_base32,
)
from accounts.middleware import SESSION_STARTED_AT
from accounts.models import TotpDevice, User
from accounts.passkeys.services import has_passkey, has_second_factor
from accounts.shown_once import see_other, shown_once_hold, shown_once_take
from audit.alerts.detectors import logins as login_detectors
from audit.models import AuditAction
from core.clientip import client_ip
from core.tenancy import all_tenants
from core.throttle import Verdict

SETUP_KEY = "totp_setup_key"
BACKUP_CODES = "backup_codes"


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("admin:index")


def _with_next(view_name: str, next_url: str) -> str:
    return f"{reverse(view_name)}?{urlencode({'next': next_url})}"


def _throttled(request: HttpRequest, verdict: Verdict, *, scope: str, actor: Actor) -> HttpResponse:
    if verdict.locked_now:
        _audit(request, AuditAction.LOCKOUT, actor=actor, scope=scope, retry_after_seconds=verdict.retry_after_seconds)
    response = render(request, "accounts/throttled.html", {"retry_after": verdict.retry_after_seconds}, status=429)
    response["Retry-After"] = str(verdict.retry_after_seconds)
    return response


def _after_password(request: HttpRequest, next_url: str) -> HttpResponse:
    user = request.user
    if is_verified(user):
        return HttpResponseRedirect(next_url)
    has_device = has_second_factor(user)  # type: ignore[arg-type]
    return HttpResponseRedirect(_with_next("accounts:otp" if has_device else "accounts:enrol", next_url))


@require_http_methods(["GET", "POST"])
@all_tenants()  # who signs in is known before their tenants are: login runs across tenants
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = _next_url(request)
    if request.user.is_authenticated and request.method == "GET":
        return _after_password(request, next_url)
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email, ip = form.cleaned_data["email"].strip().lower(), client_ip(request)
        actor = Actor(label=email, ip=ip)
        verdict = throttles.attempt_begin(scope=throttles.LOGIN, account=email, ip=ip)
        if not verdict.allowed:
            _login_failure_detect(email, ip)
            return _throttled(request, verdict, scope=throttles.LOGIN, actor=actor)
        user = authenticate(request, email=email, password=form.cleaned_data["password"])
        if user is None:
            _audit(request, AuditAction.LOGIN_FAILED, actor=actor)
            _login_failure_detect(email, ip)
            form.add_error(None, "Email or password is incorrect.")
        else:
            login(request, user)
            request.session[SESSION_STARTED_AT] = timezone.now().timestamp()
            throttles.attempt_succeeded(scope=throttles.LOGIN, account=email, ip=ip)
            _audit(request, AuditAction.LOGIN_SUCCEEDED)
            login_detectors.login_succeeded(account=email, user_id=user.pk, ip=ip)
            return _after_password(request, next_url)
    return _no_store(render(request, "accounts/login.html", {"form": form, "next": next_url}))


def _login_failure_detect(email: str, ip: str) -> None:
    def user_id_of() -> uuid.UUID | None:  # asked only when an alert is raised
        return User.objects.filter(email=email).values_list("pk", flat=True).first()

    login_detectors.login_failed(account=email, ip=ip, user_id_of=user_id_of)


def _otp_attempt(request: HttpRequest) -> Verdict:
    return throttles.attempt_begin(scope=throttles.OTP, account=str(request.user.pk), ip=client_ip(request))


@login_required
@require_http_methods(["GET", "POST"])
@all_tenants()
def otp_view(request: HttpRequest) -> HttpResponse:
    """Second factor after the password; with an already verified session it is the step-up prompt."""
    next_url = _next_url(request)
    user: User = request.user  # type: ignore[assignment]
    if not has_second_factor(user) and not is_verified(user):
        return HttpResponseRedirect(_with_next("accounts:enrol", next_url))
    is_step_up = is_verified(user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        verdict = _otp_attempt(request)
        if not verdict.allowed:
            login_detectors.otp_failed(user_id=user.pk, ip=client_ip(request))
            return _throttled(request, verdict, scope=throttles.OTP, actor=actor_from_request(request))
        match = otp_match(user=user, token=form.cleaned_data["token"])
        if match is None:
            _audit(request, AuditAction.OTP_FAILED, step_up=is_step_up)
            login_detectors.otp_failed(user_id=user.pk, ip=client_ip(request))
            form.add_error("token", "That code is not valid. Codes can be used only once.")
        else:
            session_mark_verified(request, match.device)
            throttles.attempt_succeeded(scope=throttles.OTP, account=str(user.pk), ip=client_ip(request))
            login_detectors.otp_succeeded(user_id=user.pk, ip=client_ip(request))
            action = (
                AuditAction.BACKUP_CODE_USED
                if match.is_backup_code
                else (AuditAction.STEP_UP if is_step_up else AuditAction.MFA_VERIFIED)
            )
            _audit(request, action)
            return HttpResponseRedirect(next_url)
    context = {"form": form, "next": next_url, "is_step_up": is_step_up, "has_passkey": has_passkey(user)}
    return _no_store(render(request, "accounts/otp.html", context))


@login_required
@require_http_methods(["GET", "POST"])
@all_tenants()
def enrol_view(request: HttpRequest) -> HttpResponse:
    """Users without an authenticator must add one before anything else. Each POST redirects (see
    accounts.shown_once): the setup key is shown once, after which only a new key can be asked for."""
    next_url = _next_url(request)
    user: User = request.user  # type: ignore[assignment]
    if confirmed_totp_device(user) is not None:
        return HttpResponseRedirect(_with_next("accounts:otp", next_url))
    if request.method == "POST" and "start" in request.POST:
        started = totp_device_start(user=user)
        shown_once_hold(request, purpose=SETUP_KEY, payload={"device": str(started.uid)})
        return see_other(_with_next("accounts:enrol", next_url))
    device = totp_device_pending(user=user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and device is not None and form.is_valid():
        verdict = _otp_attempt(request)
        if not verdict.allowed:
            return _throttled(request, verdict, scope=throttles.OTP, actor=actor_from_request(request))
        if _confirm_device(device.pk, form.cleaned_data["token"]):
            return _enrolment_done(request, user, device, next_url)
        _audit(request, AuditAction.OTP_FAILED, enrolment=True)
        form.add_error("token", "That code does not match. Check the time on your phone and try again.")
    context = {"form": form, "next": next_url, "device": device, **_setup_key(request, device)}
    return _no_store(render(request, "accounts/enrol.html", context))


def _setup_key(request: HttpRequest, device: TotpDevice | None) -> dict[str, str]:
    """The QR code and key of the device the last start made, on the GET after it only. The held payload
    names the device, not its key: the key stays in the device's encrypted column only."""
    held = shown_once_take(request, purpose=SETUP_KEY) if request.method == "GET" else None
    if device is None or held is None or held.get("device") != str(device.uid):
        return {}
    return {"qr_svg": _qr_svg(totp_provisioning_uri(device)), "secret": totp_secret_base32(device)}


def _enrolment_done(request: HttpRequest, user: User, device: TotpDevice, next_url: str) -> HttpResponse:
    codes = backup_codes_issue(user=user)
    session_mark_verified(request, device)
    throttles.attempt_succeeded(scope=throttles.OTP, account=str(user.pk), ip=client_ip(request))
    _audit(request, AuditAction.MFA_ENROLLED, device="totp")
    _audit(request, AuditAction.BACKUP_CODES_ISSUED, count=len(codes))
    shown_once_hold(request, purpose=BACKUP_CODES, payload={"codes": codes})
    return see_other(_with_next("accounts:backup_codes", next_url))


@login_required
@require_GET
@all_tenants()
def backup_codes_view(request: HttpRequest) -> HttpResponse:
    """The backup codes the enrolment just issued, once; a reload says they were already shown."""
    held = shown_once_take(request, purpose=BACKUP_CODES)
    context = {"codes": held["codes"] if held else [], "next": _next_url(request)}
    return _no_store(render(request, "accounts/backup_codes.html", context))


def _confirm_device(device_id: int, token: str) -> bool:
    with transaction.atomic():
        device = TotpDevice.objects.select_for_update().get(pk=device_id)
        if not device.verify_token(token.strip().replace(" ", "")):
            return False
        device.confirmed = True
        device.save(update_fields=["confirmed"])
    return True


def _qr_svg(data: str) -> str:
    import segno

    return str(segno.make(data, error="m").svg_inline(scale=5, dark="#111", light="#fff"))


@require_POST
@all_tenants()
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        _audit(request, AuditAction.LOGOUT)
    logout(request)
    return HttpResponseRedirect(reverse("accounts:login"))


def _no_store(response: HttpResponse) -> HttpResponse:
    add_never_cache_headers(response)
    return response
