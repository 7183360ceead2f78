from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.signals import request_finished, request_started
        from django.db.backends.signals import connection_created

        import core.lookups  # noqa: F401 - registers ``__any_of`` on every field
        from core.tenancy import connection_scope_receive, request_scope_begin, request_scope_end

        # Row-level security's scope (core/tenancy.py): a new connection gets the scope in force, and each
        # request starts and ends with none.
        connection_created.connect(connection_scope_receive, dispatch_uid="core.tenancy.connection")
        request_started.connect(request_scope_begin, dispatch_uid="core.tenancy.request_started")
        request_finished.connect(request_scope_end, dispatch_uid="core.tenancy.request_finished")
