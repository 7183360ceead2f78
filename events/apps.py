from django.apps import AppConfig

EVENT_LOG = "event_log"  # the purge kind the retention policy records the delivery log's rows under


class EventsConfig(AppConfig):
    name = "events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # messaging never imports events: it records business events through the registered sink, in the
        # transaction of the change that causes them. The delivery log and the feed are metadata: policies
        # purges them per tenant through the registered purger, without naming this app.
        # The tasks module registers the tasks the outbox and the relay publish by name (Celery autodiscovers
        # them in workers only).
        from core.retained_logs import RetainedLog, retained_log_register
        from events import tasks  # noqa: F401
        from events.outbox import events_record
        from events.services import events_log_due, events_log_purge
        from messaging.business_events import business_events_sink_register

        business_events_sink_register(events_record)
        # audit raises security alerts without naming this app: the event is written in the alert's transaction.
        from audit.alerts.listeners import alert_writer_register
        from events.security_alerts import security_alert_event_write

        alert_writer_register(security_alert_event_write)
        retained_log_register(RetainedLog(name=EVENT_LOG, purge=events_log_purge, due=events_log_due))
