from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # policies never imports webhooks: it purges, erases and holds raw bodies through the registered ledger.
        from core.raw_ledgers import raw_ledger_register
        from webhooks.models import delivery_ledger

        raw_ledger_register(delivery_ledger())
        # The processing tasks, which the services publish by name (Celery autodiscovers them in workers only).
        from webhooks import tasks  # noqa: F401
