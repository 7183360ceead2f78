"""The WebAuthn endpoints the library's scripts call, with the gateway's rules around the library's views.

- Registration: a signed-in user whose session passed a second factor within the step-up window.
- Authentication: only after the password (never passwordless), only for a user with a passkey, throttled with
  the OTP throttle (one counter for codes and passkeys), audited with the actions the OTP page writes
  (``device="passkey"``). A success marks the session verified, restarts the step-up clock and cycles the
  session key, exactly as a code does; so a passkey passes step-up too.

Refusals are audited with the library's reason code, never with credential material.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django_otp_webauthn import exceptions
from django_otp_webauthn.utils import rewrite_exceptions
from django_otp_webauthn.views import (
    BeginCredentialAuthenticationView,
    BeginCredentialRegistrationView,
    CompleteCredentialAuthenticationView,
    CompleteCredentialRegistrationView,
)

from accounts import throttles
from accounts.actors import actor_audit
from accounts.mfa import has_fresh_step_up, is_verified, session_mark_verified
from accounts.models import User
from accounts.passkeys.services import has_passkey, passkey_default_name
from audit.alerts.detectors import logins as login_detectors
from audit.models import AuditAction
from core.clientip import client_ip
from core.throttle import Verdict

PASSKEY = "passkey"


class StepUpRequired(exceptions.OTPWebAuthnApiError):  # type: ignore[misc]
    status_code = 403
    default_detail = "Confirm it's you first: adding a passkey needs a fresh second factor."
    default_code = "step_up_required"


class NoPasskey(exceptions.OTPWebAuthnApiError):  # type: ignore[misc]
    status_code = 403
    default_detail = "This account has no passkey. Use a code from your authenticator app."
    default_code = "no_passkey"


class Throttled(exceptions.OTPWebAuthnApiError):  # type: ignore[misc]
    status_code = 429
    default_detail = "Too many attempts. Wait a while before trying again."
    default_code = "throttled"


def _refusal(error: Any) -> JsonResponse:
    return JsonResponse({"detail": str(error), "code": error.code}, status=error.status_code)


class FreshStepUpOnly:
    request: HttpRequest

    def check_can_register(self) -> None:
        """The library already refuses users with a device whose session is not verified; the gateway also wants
        that verification recent (and every user here has a device before reaching this page)."""
        if not (is_verified(self.request.user) and has_fresh_step_up(self.request)):
            raise StepUpRequired()


class RegistrationBeginView(FreshStepUpOnly, BeginCredentialRegistrationView):  # type: ignore[misc]
    pass


class RegistrationCompleteView(FreshStepUpOnly, CompleteCredentialRegistrationView):  # type: ignore[misc]
    def post(self, *args: Any, **kwargs: Any) -> JsonResponse:
        user: User = self.request.user  # type: ignore[assignment]
        try:
            state = self.get_state()
            with rewrite_exceptions(logger=None):
                data = self.request.data  # type: ignore[attr-defined]  # the library's parsed JSON body
                credential = self.get_helper().register_complete(user=user, state=state, data=data)
        except exceptions.OTPWebAuthnApiError as error:
            actor_audit(self.request, AuditAction.PASSKEY_REGISTRATION_FAILED, reason=str(error.code))
            raise
        credential.name = passkey_default_name(user)
        credential.save(update_fields=["name"])
        actor_audit(self.request, AuditAction.PASSKEY_REGISTERED, passkey=credential.pk)
        return JsonResponse({"id": credential.pk})


class AuthenticationBeginView(BeginCredentialAuthenticationView):  # type: ignore[misc]
    def check_can_authenticate(self) -> None:
        super().check_can_authenticate()  # refuses anyone not past the password: passwordless login is off
        if not has_passkey(self.request.user):
            raise NoPasskey()


class AuthenticationCompleteView(CompleteCredentialAuthenticationView):  # type: ignore[misc]
    def post(self, *args: Any, **kwargs: Any) -> JsonResponse:
        request = self.request
        user: User = request.user
        is_step_up, ip = is_verified(user), client_ip(request)
        verdict = throttles.attempt_begin(scope=throttles.OTP, account=str(user.pk), ip=ip)
        if not verdict.allowed:
            login_detectors.otp_failed(user_id=user.pk, ip=ip)
            return self._throttled(verdict)
        try:
            state = self.get_state()
            with rewrite_exceptions(logger=None):
                credential = self.get_helper().authenticate_complete(user=user, state=state, data=request.data)
            self.check_device_usable(credential)
        except exceptions.OTPWebAuthnApiError as error:
            actor_audit(request, AuditAction.OTP_FAILED, step_up=is_step_up, device=PASSKEY, reason=str(error.code))
            login_detectors.otp_failed(user_id=user.pk, ip=ip)
            raise
        session_mark_verified(request, credential)
        throttles.attempt_succeeded(scope=throttles.OTP, account=str(user.pk), ip=ip)
        login_detectors.otp_succeeded(user_id=user.pk, ip=ip)
        action = AuditAction.STEP_UP if is_step_up else AuditAction.MFA_VERIFIED
        actor_audit(request, action, device=PASSKEY, passkey=credential.pk)
        return JsonResponse({"id": credential.pk, "redirect_url": self.get_success_url()})

    def get_success_url(self) -> str:
        return str(self.get_redirect_url() or reverse("admin:index"))

    def _throttled(self, verdict: Verdict) -> JsonResponse:
        if verdict.locked_now:
            actor_audit(
                self.request, AuditAction.LOCKOUT, scope=throttles.OTP, retry_after_seconds=verdict.retry_after_seconds
            )
        response = _refusal(Throttled())
        response["Retry-After"] = str(verdict.retry_after_seconds)
        return response
