from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit.alerts.detectors.sensitive import KIND_OF_ACTION, sensitive_action_observe
        from audit.services import audit_observer_register

        # Reveals, exports, erasures and hold releases are audited already: the detector watches the record.
        audit_observer_register(actions=KIND_OF_ACTION, observer=sensitive_action_observe)
