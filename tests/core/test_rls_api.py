"""The read API's cross-tenant tests (tests/messaging/test_api.py) again, with the connection as the application
role: row-level security binds every query, and each request sees its key's tenant only."""

from __future__ import annotations

import pytest

from tests.database_roles import app_role, database_roles, postgresql_only
from tests.messaging.test_api import (
    client_a,
    client_b,
    test_another_tenants_id_answers_the_same_404_as_a_random_id,
    test_each_list_answers_exactly_the_keys_own_rows,
    test_the_access_token_never_appears_in_a_channel_response,
    test_the_external_id_filter_finds_each_tenants_own_contact,
    test_the_provider_message_id_filter_finds_each_tenants_own_message,
    world_a,
    world_b,
)

__all__ = [
    "app_role",
    "client_a",
    "client_b",
    "database_roles",
    "test_another_tenants_id_answers_the_same_404_as_a_random_id",
    "test_each_list_answers_exactly_the_keys_own_rows",
    "test_the_access_token_never_appears_in_a_channel_response",
    "test_the_external_id_filter_finds_each_tenants_own_contact",
    "test_the_provider_message_id_filter_finds_each_tenants_own_message",
    "world_a",
    "world_b",
]

pytestmark = [pytest.mark.django_db, postgresql_only]


@pytest.fixture(autouse=True)
def _as_the_application_role(app_role: str) -> None:
    """Every test here runs with its connection as the application role (fixtures seed as an operator job)."""
