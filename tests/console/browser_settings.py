"""The test settings, with static files served from the apps' folders (as in development), so that a live gunicorn
serves the API docs' assets without a collectstatic run first."""

from tests.settings import *  # noqa: F403

WHITENOISE_USE_FINDERS = True
