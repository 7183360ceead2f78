"""Passkeys (WebAuthn, through django-otp-webauthn) as an admin second factor next to TOTP (docs/security.md).

The relying party ID and the origins allowed in an assertion come from configuration only, never from a request's
``Host`` or ``Origin``: an assertion made for another site, or on a page served under another origin, is refused.
Production has no default for either (gateway.E020). gateway/settings.py imports every name of ``__all__``.
"""

from __future__ import annotations

from gateway.env import env_list, env_str

__all__ = [
    "OTP_ADMIN_HIDE_SENSITIVE_DATA",
    "OTP_WEBAUTHN_ALLOWED_ORIGINS",
    "OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN",
    "OTP_WEBAUTHN_EXCEPTION_LOGGER_NAME",
    "OTP_WEBAUTHN_HELPER_CLASS",
    "OTP_WEBAUTHN_RP_ID",
    "OTP_WEBAUTHN_RP_NAME",
]

_IS_PRODUCTION = env_str("GATEWAY_ENV", "development") == "production"
# Development serves http://localhost:<port>: browsers refuse WebAuthn on a bare IP such as 127.0.0.1.
_DEV_PORT = env_str("GATEWAY_PORT", "8000")

# The admin pages hide keys, QR codes, backup codes and passkeys' public keys.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# The registrable domain passkeys are bound to, e.g. gateway.example.com; changing it orphans every passkey.
OTP_WEBAUTHN_RP_ID = env_str("GATEWAY_WEBAUTHN_RP_ID", "" if _IS_PRODUCTION else "localhost")
# Exact origins (scheme, host, port) the admin is served from, e.g. https://gateway.example.com.
OTP_WEBAUTHN_ALLOWED_ORIGINS = env_list(
    "GATEWAY_WEBAUTHN_ORIGINS", "" if _IS_PRODUCTION else f"http://localhost:{_DEV_PORT}"
)
# The name authenticators show when a passkey is made.
OTP_WEBAUTHN_RP_NAME = env_str("GATEWAY_WEBAUTHN_RP_NAME", "Meta gateway")
# User verification (PIN, biometrics) is required in both ceremonies; see accounts.passkeys.helper.
OTP_WEBAUTHN_HELPER_CLASS = "accounts.passkeys.helper.GatewayWebAuthnHelper"
# A passkey is a second factor only: the password always comes first.
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
# Refused ceremonies are audited with a reason code; the library's traceback logging is off.
OTP_WEBAUTHN_EXCEPTION_LOGGER_NAME = ""
