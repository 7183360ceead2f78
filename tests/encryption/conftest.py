from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from accounts.models import Tenant
from encryption import keyring
from tests.encryption.support import note_create
from tests.testapp.models import Note


@pytest.fixture(autouse=True)
def _fresh_key_caches() -> Iterator[None]:
    """Key ids restart in every test on SQLite (its sequence rolls back with the test's transaction), so a
    cipher cached by an earlier test could answer for a different key: every test starts and ends empty."""
    keyring.cache_clear()
    yield
    keyring.cache_clear()


@pytest.fixture
def marker() -> str:
    """A value that exists nowhere else: finding it in storage means plaintext leaked."""
    return uuid.uuid4().hex


@pytest.fixture
def note_a(tenant_a: Tenant) -> Note:
    return note_create(
        tenant_id=tenant_a.id,
        title="a",
        body="alpha secret",
        attachment=b"alpha bytes",
        payload={"text": "alpha payload"},
        summary="alpha subject",
    )


@pytest.fixture
def other_note_a(tenant_a: Tenant) -> Note:
    return note_create(tenant_id=tenant_a.id, title="a2", body="second of a", payload={"text": "second"})


@pytest.fixture
def note_b(tenant_b: Tenant) -> Note:
    return note_create(tenant_id=tenant_b.id, title="b", body="bravo secret", payload={"text": "bravo"})
