"""Threat detection's thresholds and the email that carries security alerts (docs/security-alerts.md).

gateway/settings.py imports every name of ``__all__``.
"""

from __future__ import annotations

from gateway.env import env_bool, env_int, env_str

__all__ = [
    "DEFAULT_FROM_EMAIL",
    "EMAIL_BACKEND",
    "EMAIL_HOST",
    "EMAIL_HOST_PASSWORD",
    "EMAIL_HOST_USER",
    "EMAIL_PORT",
    "EMAIL_TIMEOUT",
    "EMAIL_USE_TLS",
    "SECURITY_ALERT_EMAIL_SUBJECT_PREFIX",
    "SECURITY_DETECTION",
    "SECURITY_DETECTION_DEFAULTS",
]

# Every threshold of every detector, by name; GATEWAY_DETECT_<NAME> overrides one for the installation and a
# tenant's ThresholdOverride row for that tenant. Counts are per window unless the name says otherwise.
SECURITY_DETECTION_DEFAULTS = {
    "baseline_days": 7,
    "alert_quiet_resolve_hours": 24,
    "webhook_signature_failures_window_seconds": 600,
    "webhook_signature_failures_min": 20,
    "webhook_signature_failures_factor": 5,
    "unknown_app_key_window_seconds": 600,
    "unknown_app_key_distinct": 10,
    "login_window_seconds": 900,
    "login_failures_per_account": 10,
    "otp_failures_per_account": 10,
    "login_accounts_per_network": 10,
    "login_success_after_burst_seconds": 3600,
    "api_key_window_seconds": 600,
    "api_key_failures_per_key": 20,
    "api_key_failures_per_address": 20,
    "api_key_new_network": 1,
    "sensitive_window_seconds": 3600,
    "reveals_per_user": 50,
    "exports_per_user": 10,
    "erasures_per_user": 25,
    "hold_releases_per_user": 3,
    "outbound_window_seconds": 600,
    "outbound_sends_min": 500,
    "outbound_sends_factor": 10,
    "outbound_new_recipients": 300,
    "outbound_auto_pause": 0,
    "template_rejections_window_seconds": 86400,
    "template_rejections": 5,
    "meta_quality_errors_window_seconds": 3600,
    "meta_quality_errors": 20,
}
SECURITY_DETECTION = {
    name: env_int(f"GATEWAY_DETECT_{name.upper()}", default, minimum=0)
    for name, default in SECURITY_DETECTION_DEFAULTS.items()
}
SECURITY_ALERT_EMAIL_SUBJECT_PREFIX = env_str("GATEWAY_SECURITY_ALERT_EMAIL_PREFIX", "Gateway security alert")
# Email (security alerts): Django's backend; the console backend (stdout) until an SMTP server is configured.
EMAIL_BACKEND = env_str(
    "GATEWAY_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if env_str("GATEWAY_EMAIL_HOST")
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("GATEWAY_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("GATEWAY_EMAIL_PORT", 587, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("GATEWAY_EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("GATEWAY_EMAIL_HOST_PASSWORD")  # or GATEWAY_EMAIL_HOST_PASSWORD_FILE
EMAIL_USE_TLS = env_bool("GATEWAY_EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = env_int("GATEWAY_EMAIL_TIMEOUT_SECONDS", 10, minimum=1, maximum=120)
DEFAULT_FROM_EMAIL = env_str("GATEWAY_EMAIL_FROM", "gateway@localhost")
