from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The tasks, which inbound and outbound publish by name without importing the task module (which imports
        # them); Celery autodiscovers task modules in workers only, and web processes publish too.
        from messaging import tasks  # noqa: F401
        from messaging.inbound.accounts import channel_standing_register
        from messaging.outbound.dispatch.channels import channel_account_lift, channel_account_pause

        # Account restrictions arrive with the webhooks (inbound) and pause or resume sending (outbound).
        channel_standing_register(pause=channel_account_pause, lift=channel_account_lift)
