"""Settings for the test suite: the project's, plus a test-only app with models that exercise the
encryption fields (no migrations: pytest-django creates its tables directly)."""

from gateway.settings import *  # noqa: F403
from gateway.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
