from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # messaging never imports events: it records business events through the registered sink, in the
        # transaction of the change that causes them.
        from events.outbox import events_record
        from messaging.business_events import business_events_sink_register

        business_events_sink_register(events_record)
        # The tasks, which the outbox and the relay publish by name (Celery autodiscovers them in workers only).
        from events import tasks  # noqa: F401
