from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    name = "accounts"
    default = True
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # audit raises security alerts without naming this app: new ones are emailed to the people responsible,
        # by a task published by name (imported here so every process, web included, has it registered).
        from accounts import rate_limits, tasks  # noqa: F401 - rate_limits registers its settings check
        from accounts.security_alerts import security_alert_email_send
        from audit.alerts.listeners import alert_notifier_register

        alert_notifier_register(security_alert_email_send)


class GatewayAdminConfig(admin_apps.AdminConfig):
    """Replaces ``admin.site`` itself, so every ModelAdmin, ours or a library's, is behind MFA."""

    default = False
    default_site = "accounts.admin_site.GatewayAdminSite"
