"""The ORM load of encrypted rows against the same rows in plaintext (bench/crypto.py, part 2)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from _crypto import VALUE_BYTES
from _crypto.timing import Case, Verdict, calibrate, gc_paused, measure_interleaved, verdicts_of

if TYPE_CHECKING:
    from tests.testapp.models import Note, PlainNote

ORM_TARGET = 1.5  # Note vs PlainNote, 3 encrypted fields read per row
ORM_SAMPLE_SECONDS = 0.08  # per sample of the plaintext load; the other ORM cases use the same loop count


def insert_rows(tenant_id: uuid.UUID, rows: int) -> str:
    """The same rows in PlainNote and Note; returns how Note rows were written."""
    from django.db import transaction

    from encryption.envelope import key_id_of
    from encryption.errors import EncryptedFieldMisuseError
    from encryption.fields import Sealed
    from tests.testapp.models import Note, PlainNote

    def values(index: int) -> dict[str, Any]:
        return {
            "tenant_id": tenant_id,
            "title": f"note {index}",
            "body": f"message {index:06d} ".ljust(VALUE_BYTES, "."),
            "attachment": os.urandom(VALUE_BYTES),
            "payload": {"n": index, "text": "y" * 40},
        }

    contents = [values(index) for index in range(rows)]
    PlainNote._default_manager.bulk_create([PlainNote(**value) for value in contents], batch_size=500)
    method = "bulk_create"
    try:  # bulk_create calls pre_save, which seals; check that it really did
        with transaction.atomic():
            Note._default_manager.bulk_create([Note(**value) for value in contents], batch_size=500)
    except EncryptedFieldMisuseError:  # the field refused plaintext: pre_save did not seal
        method = "save()"
    if method == "bulk_create":
        stored = list(Note._default_manager.values_list("body", "attachment", "payload"))
        plain_body = contents[0]["body"].encode()
        sealed = all(isinstance(value, Sealed) and key_id_of(value) for row in stored for value in row)
        if not sealed or any(plain_body in bytes(row[0]) for row in stored):
            Note._default_manager.all().delete()
            method = "save()"
    if method == "save()":
        with transaction.atomic():
            for value in contents:
                Note(**value).save()
    first = Note._default_manager.get(title="note 0")
    expected = (contents[0]["body"], contents[0]["attachment"], contents[0]["payload"])
    if (first.body, first.attachment, first.payload) != expected:
        raise RuntimeError("encrypted rows do not read back as written")
    if Note._default_manager.count() != rows or PlainNote._default_manager.count() != rows:
        raise RuntimeError("row counts differ")
    return method


def load(model: type[Note | PlainNote], *, read_fields: bool) -> Callable[[int], float]:
    """``loops`` times: fetch every row; then (``read_fields``) read body, attachment and payload on each."""

    def run(loops: int) -> float:
        with gc_paused():
            start = time.perf_counter()
            for _ in range(loops):
                rows = cast("list[Note | PlainNote]", list(model._default_manager.all()))
                if read_fields:
                    for note in rows:
                        _ = (note.body, note.attachment, note.payload)
            return time.perf_counter() - start

    return run


def run_orm(tenant_id: uuid.UUID, rows: int, repeats: int) -> tuple[list[Case], list[Verdict], str]:
    from tests.testapp.models import Note, PlainNote

    started = time.perf_counter()
    method = insert_rows(tenant_id, rows)
    inserted = f"{rows} rows written with bulk_create (PlainNote) and {method} (Note) in"
    inserted += f" {time.perf_counter() - started:.2f} s"
    cases = [
        Case("orm", "PlainNote, load + read 3 fields", load(PlainNote, read_fields=True), baseline=True),
        Case("orm", "Note, load + read 3 encrypted fields", load(Note, read_fields=True), target=ORM_TARGET),
        Case("orm", "Note, load only (values stay sealed)", load(Note, read_fields=False)),
    ]
    for case in cases:
        case.run(1)  # warm-up: connection, keyring read cache, compiled query paths
    loops = calibrate(cases[0].run, ORM_SAMPLE_SECONDS)
    for case in cases:
        case.loops = loops
    measure_interleaved(cases, repeats)
    return cases, verdicts_of(cases, lambda case: case.median, suffix=f" ({rows} rows)"), inserted
