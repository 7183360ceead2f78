"""Saving encrypted fields: what keeps its ciphertext, what is sealed again, and rows copied or moved."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from accounts.models import Tenant
from encryption.fields import EncryptedField
from tests.encryption.support import fresh, note_create, notes, read, stored
from tests.testapp.models import Note

ENCRYPTED_FIELDS = ("body", "attachment", "payload", "summary")


# --- saving ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_saving_an_unchanged_row_keeps_its_ciphertext(note_a: Note) -> None:
    before = {field: stored(note_a, field) for field in ENCRYPTED_FIELDS}
    untouched = fresh(note_a)
    untouched.title = "renamed"
    untouched.save()
    opened = fresh(note_a)
    assert [read(opened, field) for field in ENCRYPTED_FIELDS] == [
        "alpha secret",
        b"alpha bytes",
        {"text": "alpha payload"},
        "alpha subject",
    ]
    opened.save()

    assert {field: stored(note_a, field) for field in ENCRYPTED_FIELDS} == before
    assert read(fresh(note_a), "title") == "renamed"


@pytest.mark.django_db
def test_a_changed_value_is_sealed_again(note_a: Note) -> None:
    before = stored(note_a, "body")
    loaded = fresh(note_a)
    loaded.body = "changed"
    loaded.save()

    after = stored(note_a, "body")
    assert after != before
    assert after is not None and b"changed" not in after
    assert read(fresh(note_a), "body") == "changed"
    assert stored(note_a, "summary") is not None


@pytest.mark.django_db
def test_an_assignment_or_reseal_on_save_seals_again_even_the_very_value_read(note_a: Note) -> None:
    loaded = fresh(note_a)
    loaded.save()
    kept = stored(note_a, "body")
    loaded.body = loaded.body  # as refresh_from_db assigns: an interned value ("", "a") is the same object
    loaded.save()
    assigned = stored(note_a, "body")
    assert assigned is not None and assigned != kept

    body_field = Note._meta.get_field("body")
    assert isinstance(body_field, EncryptedField)
    body_field.reseal_on_save(loaded, loaded.body)  # the very object it was sealed from
    loaded.save()

    after = stored(note_a, "body")
    assert after is not None and after not in (kept, assigned)
    assert read(fresh(note_a), "body") == "alpha secret"


@pytest.mark.django_db
def test_a_refreshed_row_saves_what_the_database_holds_not_the_ciphertext_read_before(note_a: Note) -> None:
    loaded = fresh(note_a)
    loaded.body = ""  # interned: the value refresh_from_db assigns later is this same object
    loaded.save()
    saved_first = stored(note_a, "body")
    elsewhere = fresh(note_a)
    elsewhere.body = ""
    elsewhere.save()  # sealed again by another instance (as key rotation would)

    loaded.refresh_from_db()
    loaded.save()

    assert stored(note_a, "body") != saved_first  # never the ciphertext from before the refresh
    assert read(fresh(note_a), "body") == ""


@pytest.mark.django_db
def test_a_json_value_changed_in_place_is_saved(note_a: Note) -> None:
    loaded = fresh(note_a)
    payload = read(loaded, "payload")
    payload["text"] += " edited"
    payload["list"] = [1, 2]
    loaded.save()

    assert read(fresh(note_a), "payload") == {"text": "alpha payload edited", "list": [1, 2]}


@pytest.mark.django_db
def test_deferred_field_opens_on_access(note_a: Note, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1):
        deferred = notes().only("title").get(pk=note_a.pk)

    assert read(deferred, "body") == "alpha secret"
    assert read(deferred, "payload") == {"text": "alpha payload"}
    assert read(deferred, "title") == "a"


@pytest.mark.django_db
def test_saving_after_reading_a_deferred_field_keeps_its_ciphertext(note_a: Note) -> None:
    before = stored(note_a, "body")
    deferred = notes().only("title").get(pk=note_a.pk)
    assert read(deferred, "body") == "alpha secret"

    deferred.save()

    assert stored(note_a, "body") == before


@pytest.mark.django_db
def test_a_row_created_with_its_uuid_as_text_opens_after_loading(tenant_a: Tenant) -> None:
    note = note_create(id=str(uuid.uuid4()), tenant_id=tenant_a.id, body="created with a text id")

    assert read(fresh(note), "body") == "created with a text id"


@pytest.mark.django_db
@pytest.mark.parametrize("move", ["new-row-id", "other-tenant"])
def test_a_copied_or_moved_row_stays_readable(note_a: Note, tenant_b: Tenant, move: str) -> None:
    loaded = fresh(note_a)
    assert read(loaded, "body") == "alpha secret"
    if move == "new-row-id":
        loaded.pk = uuid.uuid4()
        loaded._state.adding = True
    else:
        loaded.tenant_id = tenant_b.id
    loaded.save()

    assert read(fresh(loaded), "body") == "alpha secret"
