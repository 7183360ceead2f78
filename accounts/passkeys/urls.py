"""The WebAuthn endpoints under /account/passkeys/, in the library's namespace (its template tags reverse these
names), served by the gateway's subclasses of its views."""

from django.urls import path
from django.views.i18n import JavaScriptCatalog

from accounts.passkeys import ceremonies

app_name = "otp_webauthn"

urlpatterns = [
    path("registration/begin/", ceremonies.RegistrationBeginView.as_view(), name="credential-registration-begin"),
    path(
        "registration/complete/",
        ceremonies.RegistrationCompleteView.as_view(),
        name="credential-registration-complete",
    ),
    path(
        "authentication/begin/",
        ceremonies.AuthenticationBeginView.as_view(),
        name="credential-authentication-begin",
    ),
    path(
        "authentication/complete/",
        ceremonies.AuthenticationCompleteView.as_view(),
        name="credential-authentication-complete",
    ),
    path("jsi18n/", JavaScriptCatalog.as_view(packages=["django_otp_webauthn"]), name="js-i18n-catalog"),
]
