from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    name = "accounts"
    default = True
    default_auto_field = "django.db.models.BigAutoField"


class GatewayAdminConfig(admin_apps.AdminConfig):
    """Replaces ``admin.site`` itself, so every ModelAdmin, ours or a library's, is behind MFA."""

    default = False
    default_site = "accounts.admin_site.GatewayAdminSite"
