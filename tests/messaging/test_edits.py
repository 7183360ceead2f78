"""Messenger and Instagram edits change the message they name: its content says the edit's text, its edit count
and earlier versions are kept (sealed, with its content's expiry, purged with it), whether the edit arrives
after its message, before it, out of order or twice."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Tenant
from messaging.models import PARKED_STATUS_WINDOW, Message, MessageEdit, MetaApp
from policies.retention.purge.kinds import content_batch, message_edit_batch
from policies.subjects.export_archive import export_archive
from tests.database_text import tables_holding
from tests.messaging.semantics_support import (
    app_with_channels,
    compact,
    fixture_bytes,
    fixture_document,
    post,
    reader,
    results,
)

pytestmark = pytest.mark.django_db

MESSENGER_EDIT = "Hello World \N{EM DASH} caf\N{LATIN SMALL LETTER E WITH ACUTE} at 10:30 \N{SLIGHTLY SMILING FACE}"
INSTAGRAM_EDIT = "Hello W\N{LATIN SMALL LETTER O WITH DIAERESIS}rld, see https://example.com/a"


@pytest.fixture
def app(tenant_a: Tenant) -> MetaApp:
    return app_with_channels(tenant_a)


def _edit(number: int, text: str, *, fixture: str = "messenger_message_edit.json") -> bytes:
    document = fixture_document(fixture)
    event = document["entry"][0]["messaging"][0]
    event["message_edit"].update(num_edit=number, text=text)
    event["timestamp"] += number
    return compact(document)


def _original(tenant: Tenant, platform: str = "messenger") -> dict[str, Any]:
    [shown] = [row for row in results(reader(tenant), "/api/v1/messages/?type=text") if row["platform"] == platform]
    return shown


def test_an_edit_after_its_message_changes_its_content_and_keeps_the_original_text(
    app: MetaApp, tenant_a: Tenant
) -> None:
    assert post(app, fixture_bytes("messenger_text.json")) == {"stored": 1}

    assert post(app, fixture_bytes("messenger_message_edit.json")) == {"stored": 1}

    shown = _original(tenant_a)
    assert (shown["text"], shown["content"]["message"]["text"]) == (MESSENGER_EDIT, MESSENGER_EDIT)
    assert shown["content"]["message"]["mid"] == "external_id"  # the rest of the platform object stays
    assert (shown["edit_count"], shown["edited_at"]) == (1, "2016-04-07T01:11:30.112000Z")
    assert shown["previous_versions"] == [{"number": 0, "text": "Hello World", "at": "2016-04-07T01:11:27.970000Z"}]
    # The edit is an event of its own too, as before.
    assert [row["type"] for row in results(reader(tenant_a), "/api/v1/messages/?type=edit")] == ["edit"]


def test_a_redelivered_edit_changes_nothing(app: MetaApp, tenant_a: Tenant) -> None:
    post(app, fixture_bytes("messenger_text.json"))
    post(app, fixture_bytes("messenger_message_edit.json"))
    before = Message.objects.get(message_type="message").updated_at

    assert post(app, fixture_bytes("messenger_message_edit.json")) == {"duplicate": 1}

    shown = _original(tenant_a)
    assert (shown["edit_count"], len(shown["previous_versions"])) == (1, 1)
    assert MessageEdit.objects.count() == 2  # the original text and the edit
    assert Message.objects.get(message_type="message").updated_at == before


def test_an_edit_before_its_message_waits_then_applies_when_the_message_appears(app: MetaApp, tenant_a: Tenant) -> None:
    post(app, fixture_bytes("messenger_message_edit.json"))
    [waiting] = MessageEdit.objects.all()
    assert waiting.message_id is None
    assert waiting.expires_at == waiting.received_at + PARKED_STATUS_WINDOW
    assert not [place for place in tables_holding("10:30") if place.startswith("messaging_")]  # sealed

    post(app, fixture_bytes("messenger_text.json"))
    post(app, fixture_bytes("messenger_text.json"))  # the message redelivered: nothing more

    shown = _original(tenant_a)
    assert (shown["text"], shown["edit_count"]) == (MESSENGER_EDIT, 1)
    assert [version["text"] for version in shown["previous_versions"]] == ["Hello World"]
    message = Message.objects.get(message_type="message")
    assert set(MessageEdit.objects.values_list("message_id", "expires_at")) == {
        (message.pk, message.content_expires_at)
    }


def test_edits_out_of_order_end_at_the_latest_and_keep_every_earlier_version(app: MetaApp, tenant_a: Tenant) -> None:
    post(app, fixture_bytes("messenger_text.json"))

    post(app, _edit(2, "second"))
    post(app, _edit(1, "first"))
    post(app, _edit(2, "second"))

    shown = _original(tenant_a)
    assert (shown["text"], shown["edit_count"]) == ("second", 2)
    assert [(version["number"], version["text"]) for version in shown["previous_versions"]] == [
        (0, "Hello World"),
        (1, "first"),
    ]


def test_an_instagram_edit_applies_the_same_way(app: MetaApp, tenant_a: Tenant) -> None:
    post(app, fixture_bytes("instagram_message_edit.json"))
    post(app, fixture_bytes("instagram_text.json"))

    shown = _original(tenant_a, "instagram")
    assert (shown["text"], shown["edit_count"]) == (INSTAGRAM_EDIT, 2)
    assert [version["text"] for version in shown["previous_versions"]] == ["Hello World"]


def test_an_unsent_message_loses_its_earlier_versions_with_its_content(app: MetaApp, tenant_a: Tenant) -> None:
    post(app, fixture_bytes("instagram_text.json"))
    post(app, fixture_bytes("instagram_message_edit.json"))

    post(app, fixture_bytes("instagram_unsent_deleted.json"))

    shown = _original(tenant_a, "instagram")
    assert (shown["content"], shown["previous_versions"]) == (None, [])
    assert not MessageEdit.objects.exists()


def test_retention_purges_earlier_versions_with_their_content_and_edits_that_waited_in_vain(
    app: MetaApp, tenant_a: Tenant
) -> None:
    post(app, fixture_bytes("messenger_text.json"))
    post(app, fixture_bytes("messenger_message_edit.json"))
    post(app, _edit(1, "for a message never stored", fixture="instagram_message_edit.json"))
    now = timezone.now()
    Message.objects.filter(message_type="message").update(content_expires_at=now - timedelta(seconds=1))

    content_batch(now, 100)

    assert not MessageEdit.objects.filter(message__isnull=False).exists()
    [waiting] = MessageEdit.objects.all()
    message_edit_batch(now, 100)
    assert MessageEdit.objects.filter(pk=waiting.pk).exists()  # still within its window
    message_edit_batch(waiting.received_at + PARKED_STATUS_WINDOW, 100)
    assert not MessageEdit.objects.exists()


def test_a_whatsapp_edit_and_revoke_change_the_message_they_name(app: MetaApp, tenant_a: Tenant) -> None:
    post(app, fixture_bytes("whatsapp_edit.json"))  # before its message: it waits
    post(app, fixture_bytes("whatsapp_text.json"))
    post(app, fixture_bytes("whatsapp_edit.json"))  # redelivered: nothing more

    [shown] = results(reader(tenant_a), "/api/v1/messages/?type=text")
    assert shown["text"] == "Does it come in another colour? \N{INVERTED QUESTION MARK}Y en azul?"
    assert shown["content"]["text"]["body"] == shown["text"]
    assert (shown["edit_count"], shown["edited_at"]) == (1, "2025-06-08T21:00:50Z")
    assert [version["text"] for version in shown["previous_versions"]] == ["Does it come in another color?"]

    post(app, _whatsapp_edit_again("And in green?"))
    [shown] = results(reader(tenant_a), "/api/v1/messages/?type=text")
    assert (shown["text"], shown["edit_count"], len(shown["previous_versions"])) == ("And in green?", 2, 2)

    post(app, fixture_bytes("whatsapp_revoke.json"))

    [shown] = results(reader(tenant_a), "/api/v1/messages/?type=text")
    assert (shown["content"], shown["text"], shown["previous_versions"]) == (None, None, [])
    assert [row["type"] for row in results(reader(tenant_a), "/api/v1/messages/?type=unsent")] == ["unsent"]


def _whatsapp_edit_again(text: str) -> bytes:
    document = fixture_document("whatsapp_edit.json")
    message = document["entry"][0]["changes"][0]["value"]["messages"][0]
    message.update(id="wamid.SECOND-EDIT", timestamp=str(int(message["timestamp"]) + 60))
    message["edit"]["message"]["text"]["body"] = text
    return compact(document)


def test_a_subject_export_holds_the_earlier_versions_of_an_edited_message(app: MetaApp, tenant_a: Tenant) -> None:
    post(app, fixture_bytes("messenger_text.json"))
    post(app, fixture_bytes("messenger_message_edit.json"))
    original = Message.objects.get(message_type="message")

    archive = io.BytesIO()
    export_archive(original.contact, now=timezone.now(), out=archive)

    with zipfile.ZipFile(archive) as opened:
        messages = json.loads(opened.read("messages.json"))
    [exported] = [row for row in messages if row["id"] == str(original.pk)]
    assert exported["edit_count"] == 1
    assert [version["text"] for version in exported["previous_versions"]] == ["Hello World"]
    assert exported["content"]["message"]["text"] == MESSENGER_EDIT
