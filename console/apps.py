from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operations and security console: the landing page, the admin's dashboard and the transparency reports.

    It reads every other app and nothing imports it.
    """

    name = "console"
    verbose_name = "Operations console"
