"""What messages say about the person: the newest profile name wins (an older message redelivered changes
nothing), and a ``user_changed_number`` system message links the old contact to the new one."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Tenant
from messaging.models import Contact, MetaApp
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

T_TEXT = 1749416383  # whatsapp_text.json's message time


@pytest.fixture
def app(tenant_a: Tenant) -> MetaApp:
    return app_with_channels(tenant_a)


def _text_from_sheena(name: str, *, at: int, wamid: str) -> bytes:
    """Meta's text example, sent at ``at`` under another id by the same person, who now calls herself ``name``."""
    document: dict[str, Any] = fixture_document("whatsapp_text.json")
    value = document["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["profile"]["name"] = name
    value["messages"][0].update(id=wamid, timestamp=str(at))
    return compact(document)


def _contacts(tenant: Tenant) -> dict[str, dict[str, Any]]:
    return {row["external_id"]: row for row in results(reader(tenant), "/api/v1/contacts/")}


def test_a_newer_profile_name_replaces_the_contacts_and_an_older_one_does_not(app: MetaApp, tenant_a: Tenant) -> None:
    post(app, fixture_bytes("whatsapp_text.json"))
    assert _contacts(tenant_a)["16505551234"]["profile"] == {"name": "Sheena Nelson"}

    post(app, _text_from_sheena("Sheena N\N{LATIN SMALL LETTER E WITH ACUTE}lson", at=T_TEXT + 60, wamid="wamid.NEWER"))

    contact = _contacts(tenant_a)["16505551234"]
    assert contact["profile"] == {"name": "Sheena N\N{LATIN SMALL LETTER E WITH ACUTE}lson"}
    assert contact["profile_seen_at"] == "2025-06-08T21:00:43Z"

    post(app, _text_from_sheena("Sheena the elder", at=T_TEXT + 30, wamid="wamid.OLDER"))  # late, older
    post(app, fixture_bytes("whatsapp_text.json"))  # redelivered

    contact = _contacts(tenant_a)["16505551234"]
    assert contact["profile"] == {"name": "Sheena N\N{LATIN SMALL LETTER E WITH ACUTE}lson"}
    assert Contact.objects.count() == 1


def test_the_newest_name_in_one_delivery_wins_whatever_its_place(app: MetaApp, tenant_a: Tenant) -> None:
    document: dict[str, Any] = fixture_document("whatsapp_text.json")
    newer = fixture_document("whatsapp_text.json")["entry"][0]["changes"][0]
    newer["value"]["contacts"][0]["profile"]["name"] = "Renamed"
    newer["value"]["messages"][0].update(id="wamid.SECOND", timestamp=str(T_TEXT + 5))
    document["entry"][0]["changes"].insert(0, newer)

    assert post(app, compact(document)) == {"stored": 2}

    assert _contacts(tenant_a)["16505551234"]["profile"] == {"name": "Renamed"}


def test_the_same_name_again_only_moves_its_time_so_an_older_other_name_cannot_win(
    app: MetaApp, tenant_a: Tenant
) -> None:
    post(app, fixture_bytes("whatsapp_text.json"))
    post(app, _text_from_sheena("Sheena Nelson", at=T_TEXT + 90, wamid="wamid.SAME"))

    post(app, _text_from_sheena("Between", at=T_TEXT + 45, wamid="wamid.BETWEEN"))

    assert _contacts(tenant_a)["16505551234"]["profile"] == {"name": "Sheena Nelson"}


def test_a_changed_number_links_the_old_contact_to_the_new_one_once(app: MetaApp, tenant_a: Tenant) -> None:
    body = fixture_bytes("whatsapp_system_user_changed_number.json")

    assert post(app, body) == {"stored": 1}
    assert post(app, body) == {"duplicate": 1}

    contacts = _contacts(tenant_a)
    old, new = contacts["972987654321"], contacts["972912345678"]
    assert (old["changed_to"], new["changed_to"]) == (new["id"], None)
    [message] = results(reader(tenant_a), "/api/v1/messages/")
    assert (message["contact"], message["type"]) == (old["id"], "system")
    assert Contact.objects.count() == 2
