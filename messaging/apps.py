from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The tasks, which inbound and outbound publish by name without importing the task module (which imports
        # them); Celery autodiscovers task modules in workers only, and web processes publish too.
        from messaging import tasks  # noqa: F401
