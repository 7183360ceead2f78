from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "policies"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # messaging never imports policies: it asks the registered source for the lifetimes in force.
        from messaging.lifetimes import lifetimes_source_register
        from policies.retention.selectors import policy_lifetimes

        lifetimes_source_register(policy_lifetimes)

        # Legal holds veto destroying a day key while content they cover is still sealed under it; the task
        # module registers the hold and export tasks (Celery autodiscovers policies.tasks only).
        from encryption.services import register_destroy_gate
        from policies.subjects import tasks  # noqa: F401
        from policies.subjects.hold_gate import hold_destroy_gate

        register_destroy_gate(hold_destroy_gate)
        # After the admin's autodiscovery (this app comes later): holds, exports, tombstones, contact actions.
        from policies.subjects import admin  # noqa: F401
