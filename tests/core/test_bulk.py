"""core.bulk: one UPDATE for many rows, with each row's own values and conditions and values for all."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.bulk import ColumnChange, RowCondition, quoted_column, rows_update, rows_update_where
from tests.testapp.models import PlainNote

pytestmark = pytest.mark.django_db


def _notes(*titles: str) -> list[PlainNote]:
    tenant_id = uuid.uuid4()
    return [PlainNote._default_manager.create(tenant_id=tenant_id, title=title, body=title) for title in titles]


def test_rows_update_sets_each_rows_own_values_guarded_and_the_same_values_in_one_statement() -> None:
    first, second, untouched = _notes("b", "b", "b")
    before = "{column} < %s"

    with CaptureQueriesContext(connection) as queries:
        matched = rows_update(
            PlainNote,
            {
                first.pk: {"title": ColumnChange.to("first", guard=before, guard_values=["c"])},
                second.pk: {"title": ColumnChange.to("second", guard=before, guard_values=["a"])},
            },
            same={"body": ColumnChange("{column} || %s", ["!"])},
        )

    assert (matched, len(queries)) == (2, 1)
    rows = dict(PlainNote._default_manager.values_list("pk", "title"))
    assert (rows[first.pk], rows[second.pk], rows[untouched.pk]) == ("first", "b", "b")  # second's guard failed
    bodies = dict(PlainNote._default_manager.values_list("pk", "body"))
    assert (bodies[first.pk], bodies[second.pk], bodies[untouched.pk]) == ("b!", "b!", "b")


def test_rows_update_with_only_same_values_and_a_guard_on_them() -> None:
    first, second = _notes("a", "bb")

    matched = rows_update(
        PlainNote,
        {first.pk: {}, second.pk: {}},
        same={"title": ColumnChange.to("short", guard="{column} < %s", guard_values=["b"])},
    )

    assert matched == 2
    assert dict(PlainNote._default_manager.values_list("pk", "title")) == {first.pk: "short", second.pk: "bb"}


def test_rows_update_without_rows_is_no_statement_and_without_changes_an_error() -> None:
    (note,) = _notes("a")

    with CaptureQueriesContext(connection) as queries:
        assert rows_update(PlainNote, {}) == 0
    assert len(queries) == 0
    with pytest.raises(ValueError, match="nothing to update"):
        rows_update(PlainNote, {note.pk: {}})


def test_rows_update_where_updates_only_the_rows_meeting_the_condition_and_returns_them() -> None:
    held, other = _notes("token-a", "token-b")
    title = quoted_column(PlainNote, "title", connection)

    with CaptureQueriesContext(connection) as queries:
        updated = rows_update_where(
            PlainNote,
            {held.pk: {"body": ColumnChange.to("first")}, other.pk: {"body": ColumnChange.to("second")}},
            where=RowCondition(f"{title} = %s", ["token-a"]),
            same={"title": ColumnChange.to("done")},
        )

    assert (updated, len(queries)) == ({held.pk}, 1)
    rows = {pk: (title, body) for pk, title, body in PlainNote._default_manager.values_list("pk", "title", "body")}
    assert rows == {held.pk: ("done", "first"), other.pk: ("token-b", "token-b")}
    assert rows_update_where(PlainNote, {}, where=RowCondition()) == set()
