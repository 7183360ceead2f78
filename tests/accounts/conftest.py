from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def api_key_settings(settings: pytest.FixtureRequest) -> None:
    """Pin the API key settings the tests assume, whatever the environment running them sets."""
    settings.API_KEY_ENVIRONMENT = "test"  # type: ignore[attr-defined]
    settings.API_KEY_DEFAULT_DAYS = 90  # type: ignore[attr-defined]
    settings.API_KEY_MAX_DAYS = 365  # type: ignore[attr-defined]
    settings.TRUSTED_PROXY_COUNT = 0  # type: ignore[attr-defined]
