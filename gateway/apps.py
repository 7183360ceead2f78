from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class GatewayConfig(AppConfig):
    name = "gateway"

    def ready(self) -> None:
        from gateway import checks  # noqa: F401  (registers the system checks)
        from gateway.database_roles import rls_ensure

        # Sent once per app with models after every migrate (and flush): core's is enough, and this app has none.
        post_migrate.connect(rls_ensure, sender=apps.get_app_config("core"), dispatch_uid="gateway.rls_ensure")
