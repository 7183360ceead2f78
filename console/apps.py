from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operations and security console: the landing page, the admin's dashboard and the transparency reports.

    It reads every other app and nothing imports it.
    """

    name = "console"
    verbose_name = "Operations console"

    def ready(self) -> None:
        from django.contrib import admin

        from console.dashboard import DASHBOARD_TEMPLATE

        admin.site.index_template = DASHBOARD_TEMPLATE  # the dashboard, filled by console.dashboard
