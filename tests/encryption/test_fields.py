"""The encrypted fields through the ORM: round trips, falsy values, every misuse refused (saves: their own file)."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.core import serializers
from django.core.management import call_command
from django.db import transaction
from django.db.models import F, QuerySet
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accounts.models import Tenant
from encryption.envelope import OVERHEAD_BYTES, key_id_of
from encryption.errors import DecryptionError, EncryptedFieldMisuseError
from encryption.fields import Sealed
from tests.conftest import uses_postgresql
from tests.encryption.support import fresh, note_create, notes, read, stored
from tests.testapp.models import Note

TENANT = uuid.UUID(int=0xA)
ENCRYPTED_FIELDS = ("body", "attachment", "payload", "summary")
FALSY_JSON: tuple[Any, ...] = (0, False, {}, [], "", 0.0)
DB_EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=16,
)


def _canonical(value: Any) -> str:
    """JSON text that tells True from 1 and 1.0 from 1, which == does not."""
    return json.dumps(value, sort_keys=True)


# --- round trips through save and a fresh load -------------------------------------------------------


@pytest.mark.django_db
@DB_EXAMPLES
@given(st.text())
@example("")
@example("\x00")
@example("\U0001f512 non-BMP \U00010348")
def test_text_round_trips(text: str) -> None:
    note = note_create(tenant_id=TENANT, body=text, summary=text)

    loaded = fresh(note)

    assert read(loaded, "body") == text
    assert read(loaded, "summary") == text
    assert len(stored(note, "body") or b"") == OVERHEAD_BYTES + len(text.encode())


@pytest.mark.django_db
@DB_EXAMPLES
@given(st.binary())
@example(b"")
@example(b"\x00\xff")
def test_bytes_round_trip(data: bytes) -> None:
    note = note_create(tenant_id=TENANT, attachment=data)

    assert read(fresh(note), "attachment") == data


@pytest.mark.django_db
@DB_EXAMPLES
@given(json_values)
@example({})
@example([])
@example(0)
@example(False)
@example("")
@example({"nested": [{"deep": None}, 1.5, -0.0, True]})
def test_json_round_trips(value: Any) -> None:
    note = note_create(tenant_id=TENANT, payload=value)

    assert _canonical(read(fresh(note), "payload")) == _canonical(value)


@pytest.mark.django_db
def test_bulk_create_seals_each_row(tenant_a: Tenant) -> None:
    created = notes().bulk_create([Note(tenant_id=tenant_a.id, body=f"bulk {number}") for number in range(3)])

    assert [read(fresh(note), "body") for note in created] == ["bulk 0", "bulk 1", "bulk 2"]
    assert all((stored(note, "body") or b"")[0] == 1 for note in created)


# --- NULL and falsy values ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_none_is_stored_as_null_and_falsy_values_survive(tenant_a: Tenant) -> None:
    empty = note_create(tenant_id=tenant_a.id, body=None, attachment=None, payload=None, summary=None)
    falsy = [
        note_create(tenant_id=tenant_a.id, body="", attachment=b"", payload=value, summary="") for value in FALSY_JSON
    ]

    assert [stored(empty, field) for field in ENCRYPTED_FIELDS] == [None, None, None, None]
    assert [read(fresh(empty), field) for field in ENCRYPTED_FIELDS] == [None, None, None, None]
    for note in falsy:
        assert all(stored(note, field) is not None for field in ENCRYPTED_FIELDS)
    loaded = [fresh(note) for note in falsy]
    assert [_canonical(read(note, "payload")) for note in loaded] == ["0", "false", "{}", "[]", '""', "0.0"]
    assert {(read(note, "body"), read(note, "attachment"), read(note, "summary")) for note in loaded} == {("", b"", "")}
    assert notes().filter(payload__isnull=True).count() == 1


@pytest.mark.django_db
def test_isnull_is_the_one_lookup_that_works(note_a: Note, tenant_a: Tenant) -> None:
    note_create(tenant_id=tenant_a.id, title="without body")

    assert list(notes().filter(body__isnull=True).values_list("title", flat=True)) == ["without body"]
    assert list(notes().filter(body__isnull=False).values_list("title", flat=True)) == ["a"]
    assert notes().exclude(attachment__isnull=True).get() == note_a


# --- misuse is refused -------------------------------------------------------------------------------

LOOKUP_REFUSED = "testapp.Note.{field}: encrypted fields support only the isnull lookup"
ORDER_REFUSED = "testapp.Note: cannot order by encrypted field {name!r}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "message"),
    [
        (lambda: notes().filter(body="alpha secret"), LOOKUP_REFUSED.format(field="body")),
        (lambda: notes().exclude(body="alpha secret"), LOOKUP_REFUSED.format(field="body")),
        (lambda: notes().filter(body__startswith="alpha"), LOOKUP_REFUSED.format(field="body")),
        (lambda: notes().filter(body__in=["alpha secret"]), LOOKUP_REFUSED.format(field="body")),
        (lambda: notes().filter(summary__icontains="alpha"), LOOKUP_REFUSED.format(field="summary")),
        (lambda: notes().filter(payload__text="alpha"), LOOKUP_REFUSED.format(field="payload")),
        (
            lambda: notes().filter(payload__text__exact="alpha"),
            "testapp.Note.payload: encrypted fields have no transforms",
        ),
        (lambda: notes().order_by("body"), ORDER_REFUSED.format(name="body")),
        (lambda: notes().order_by("title", "-payload"), ORDER_REFUSED.format(name="-payload")),
        (lambda: notes().distinct("body"), ORDER_REFUSED.format(name="body")),
    ],
    ids=[
        "filter",
        "exclude",
        "startswith",
        "in",
        "icontains",
        "json-key",
        "json-transform",
        "order_by",
        "order_by-desc",
        "distinct",
    ],
)
def test_lookups_and_ordering_on_encrypted_fields_raise(
    note_a: Note, query: Callable[[], QuerySet[Note]], message: str
) -> None:
    with pytest.raises(EncryptedFieldMisuseError) as raised:
        list(query())

    assert str(raised.value) == message


@pytest.mark.django_db
def test_the_same_operations_on_clear_fields_still_work(note_a: Note, other_note_a: Note) -> None:
    assert list(notes().filter(title="a")) == [note_a]
    assert list(notes().order_by("-title").values_list("title", flat=True)) == ["a2", "a"]


@pytest.mark.django_db
def test_distinct_on_a_clear_field_still_works(note_a: Note, other_note_a: Note) -> None:
    if not uses_postgresql():
        pytest.skip("DISTINCT ON (fields) is PostgreSQL's: SQLite has no such clause")
    assert list(notes().order_by("title").distinct("title").values_list("title", flat=True)) == ["a", "a2"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        lambda: notes().order_by(F("body")),
        lambda: notes().order_by(F("payload").desc()),
        lambda: Note._base_manager.order_by("body"),
    ],
    ids=["F", "F-desc", "base-manager"],
)
def test_ordering_by_an_encrypted_field_raises_however_it_is_spelled(
    note_a: Note, other_note_a: Note, query: Callable[[], QuerySet[Note]]
) -> None:
    with pytest.raises(EncryptedFieldMisuseError):
        list(query())


UPDATE_REFUSED = "testapp.Note.body: update() cannot encrypt; use save()"
PREP_REFUSED = (
    "testapp.Note.body: encrypted values are written only through Model.save(), "
    "not QuerySet.update(), bulk_update() or lookups"
)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda note: notes().filter(pk=note.pk).update(body="plain"), UPDATE_REFUSED),
        (lambda note: notes().filter(pk=note.pk).update(body=F("title")), UPDATE_REFUSED),
        (lambda note: notes().bulk_update([note], ["body"]), "testapp.Note: bulk_update() cannot encrypt; use save()"),
        # Past the queryset guard (a plain QuerySet, as _base_manager gives), the field itself refuses plaintext.
        (lambda note: QuerySet(Note).filter(pk=note.pk).update(body="plain"), PREP_REFUSED),
        (lambda note: QuerySet(Note).bulk_update([note], ["body"]), PREP_REFUSED),
    ],
    ids=["update", "update-F", "bulk_update", "plain-queryset-update", "plain-queryset-bulk_update"],
)
def test_writes_that_cannot_encrypt_raise_without_writing(
    note_a: Note, write: Callable[[Note], int], message: str
) -> None:
    before = stored(note_a, "body")
    note_a.body = "changed in memory"

    with pytest.raises(EncryptedFieldMisuseError) as raised, transaction.atomic():
        write(note_a)

    assert str(raised.value) == message
    assert stored(note_a, "body") == before
    assert read(fresh(note_a), "body") == "alpha secret"


@pytest.mark.django_db
def test_values_list_gives_sealed_values_that_never_show_plaintext(note_a: Note) -> None:
    body, payload = notes().values_list("body", "payload").get(pk=note_a.pk)
    values = notes().values("summary").get(pk=note_a.pk)

    for sealed in (body, payload, values["summary"]):
        assert type(sealed) is Sealed
        assert repr(sealed) == f"<Sealed {len(sealed)} bytes under key {key_id_of(sealed)}>"
        assert str(sealed) == repr(sealed)
        assert f"{sealed}" == repr(sealed)
    assert key_id_of(body) == key_id_of(payload) != key_id_of(values["summary"])
    assert repr(Sealed(b"planted plaintext")) == "<Sealed 17 bytes, not an envelope>"


@pytest.mark.django_db
def test_update_accepts_sealed_values_and_null(note_a: Note, other_note_a: Note) -> None:
    assert notes().filter(pk=other_note_a.pk).update(summary=None, attachment=None) == 1

    assert stored(other_note_a, "summary") is None
    assert read(fresh(other_note_a), "body") == "second of a"


# --- serialisation -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_serializers_write_a_mask_not_plaintext_or_ciphertext(note_a: Note) -> None:
    dumped = serializers.serialize("json", notes().filter(pk=note_a.pk))
    output = io.StringIO()
    call_command("dumpdata", "testapp.Note", stdout=output)

    [record] = json.loads(dumped)
    assert {field: record["fields"][field] for field in ENCRYPTED_FIELDS} == dict.fromkeys(
        ENCRYPTED_FIELDS, "<encrypted>"
    )
    for text in (dumped, output.getvalue()):
        assert "alpha" not in text
        assert (stored(note_a, "body") or b"").hex() not in text
    assert json.loads(output.getvalue())[0]["fields"]["body"] == "<encrypted>"


def _load(dumped: str) -> None:
    for deserialized in serializers.deserialize("json", dumped):
        deserialized.save()


@pytest.mark.django_db
def test_loading_a_dump_never_writes_the_mask(note_a: Note) -> None:
    dumped = serializers.serialize("json", notes().filter(pk=note_a.pk))
    before = {field: stored(note_a, field) for field in ENCRYPTED_FIELDS}

    with pytest.raises(EncryptedFieldMisuseError), transaction.atomic():
        _load(dumped)

    assert {field: stored(note_a, field) for field in ENCRYPTED_FIELDS} == before
    assert read(fresh(note_a), "body") == "alpha secret"


@pytest.mark.django_db
def test_reading_a_value_that_does_not_open_never_returns_stored_bytes(note_a: Note) -> None:
    notes().filter(pk=note_a.pk).update(body=Sealed(b"\x01" + bytes(40)))
    loaded = fresh(note_a)

    with pytest.raises(DecryptionError):
        read(loaded, "body")
    with pytest.raises(DecryptionError):
        read(loaded, "body")  # still raising: the failure left nothing readable behind
