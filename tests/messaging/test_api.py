"""The read API (/api/v1/messages, contacts, conversations, channels) through the real HTTP stack, two tenants."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR
from accounts.apikeys import IssuedKey, api_key_issue
from accounts.models import ApiScope, Tenant
from encryption.fields import Sealed
from encryption.models import DataKey, KeyState, Purpose
from messaging.channels import channel_add, meta_app_register
from messaging.models import (
    Channel,
    Contact,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    StatusEvent,
)
from tests.problems import NOT_FOUND, invalid_request, problem

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
WA_ONE = "16505550001"
WA_TWO = "16505550002"
SHARED_WAMID = "wamid.SHARED-BY-BOTH-TENANTS"
TOKEN_A = "EAAG" + "a" * 60
TOKEN_B = "EAAG" + "b" * 60
PRICING = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"}


@dataclass
class World:
    """One tenant's rows: a channel, two contacts, their conversations and messages (oldest first)."""

    tenant: Tenant
    channel: Channel
    contacts: list[Contact]
    conversations: list[Conversation]
    messages: list[Message]


def _channel(tenant: Tenant, provider_id: str, token: str) -> Channel:
    app = meta_app_register(tenant=tenant, name=f"app {provider_id}", app_secret="s" * 32, actor=CLI_ACTOR).meta_app
    return channel_add(
        tenant=tenant,
        meta_app=app,
        platform="whatsapp",
        provider_id=provider_id,
        access_token=token,
        actor=CLI_ACTOR,
        display_name=f"Line {provider_id}",
    )


def _contact(tenant: Tenant, wa_id: str) -> Contact:
    return Contact.objects.create(tenant=tenant, platform="whatsapp", external_id=wa_id, profile={"name": wa_id})


def _message(
    conversation: Conversation,
    *,
    wamid: str,
    at: datetime,
    direction: str = Direction.INBOUND,
    message_type: str = "text",
    status: str = MessageStatus.RECEIVED,
) -> Message:
    return Message.objects.create(
        tenant=conversation.tenant,
        channel=conversation.channel,
        conversation=conversation,
        contact=conversation.contact,
        direction=direction,
        message_type=message_type,
        status=status,
        received_at=timezone.now(),
        provider_timestamp=at,
        provider_message_id=wamid,
        content={"body": wamid},
    )


def _conversation(channel: Channel, contact: Contact) -> Conversation:
    return Conversation.objects.create(tenant=channel.tenant, channel=channel, contact=contact, last_inbound_at=T0)


@pytest.fixture
def world_a(tenant_a: Tenant) -> World:
    channel = _channel(tenant_a, "1001", TOKEN_A)
    contacts = [_contact(tenant_a, WA_ONE), _contact(tenant_a, WA_TWO)]
    conversations = [_conversation(channel, contact) for contact in contacts]
    # Five from the first contact, two of them at the same second (the id breaks the tie), one reply.
    offsets = [0, 60, 60, 120, 180]
    messages = [
        _message(conversations[0], wamid=f"wamid.A{index}", at=T0 + timedelta(seconds=offset))
        for index, offset in enumerate(offsets)
    ]
    messages.append(
        _message(
            conversations[1],
            wamid=SHARED_WAMID,
            at=T0 + timedelta(seconds=240),
            direction=Direction.OUTBOUND,
            message_type="image",
            status=MessageStatus.DELIVERED,
        )
    )
    StatusEvent.objects.create(
        message=messages[5], status=MessageStatus.SENT, provider_timestamp=T0 + timedelta(seconds=300), pricing=PRICING
    )
    StatusEvent.objects.create(
        message=messages[5], status=MessageStatus.DELIVERED, provider_timestamp=T0 + timedelta(seconds=301)
    )
    return World(tenant_a, channel, contacts, conversations, messages)


@pytest.fixture
def world_b(tenant_b: Tenant) -> World:
    channel = _channel(tenant_b, "2001", TOKEN_B)
    contacts = [_contact(tenant_b, WA_ONE)]  # the same person as A's first contact, unlinkable across tenants
    conversations = [_conversation(channel, contacts[0])]
    messages = [
        _message(conversations[0], wamid=SHARED_WAMID, at=T0),
        _message(conversations[0], wamid="wamid.B1", at=T0 + timedelta(seconds=30)),
    ]
    return World(tenant_b, channel, contacts, conversations, messages)


def _client(issued: IssuedKey) -> APIClient:
    client = APIClient(REMOTE_ADDR="203.0.113.5")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client


def _reader(tenant: Tenant) -> APIClient:
    scopes = [ApiScope.MESSAGES_READ, ApiScope.CONTACTS_READ]
    return _client(api_key_issue(tenant=tenant, name="reader", scopes=scopes))


@pytest.fixture
def client_a(world_a: World, world_b: World) -> APIClient:
    return _reader(world_a.tenant)


@pytest.fixture
def client_b(world_a: World, world_b: World) -> APIClient:
    return _reader(world_b.tenant)


def _ids(rows: list[Message] | list[Contact] | list[Conversation] | list[Channel]) -> list[str]:
    return [str(row.pk) for row in rows]


def _result_ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def _newest_first(messages: list[Message]) -> list[str]:
    return _ids(sorted(messages, key=lambda message: (message.provider_timestamp, message.pk), reverse=True))


# --- Lists are the tenant's own rows -------------------------------------------------------------


def test_each_list_answers_exactly_the_keys_own_rows(client_a, client_b, world_a: World, world_b: World):
    for client, world in [(client_a, world_a), (client_b, world_b)]:
        assert sorted(_result_ids(client.get("/api/v1/messages/"))) == sorted(_ids(world.messages))
        assert sorted(_result_ids(client.get("/api/v1/contacts/"))) == sorted(_ids(world.contacts))
        assert sorted(_result_ids(client.get("/api/v1/conversations/"))) == sorted(_ids(world.conversations))
        assert _result_ids(client.get("/api/v1/channels/")) == [str(world.channel.pk)]
    assert len(_result_ids(client_a.get("/api/v1/messages/"))) == 6
    assert len(_result_ids(client_b.get("/api/v1/messages/"))) == 2


def test_messages_are_listed_newest_first_by_provider_timestamp_then_id(client_a, world_a: World):
    assert _result_ids(client_a.get("/api/v1/messages/")) == _newest_first(world_a.messages)


def test_message_detail_shows_every_field_and_the_status_history(client_a, world_a: World):
    message = world_a.messages[5]

    response = client_a.get(f"/api/v1/messages/{message.pk}/")

    assert response.status_code == 200
    assert response.json() == {
        "id": str(message.pk),
        "channel": str(world_a.channel.pk),
        "conversation": str(world_a.conversations[1].pk),
        "contact": str(world_a.contacts[1].pk),
        "platform": "whatsapp",
        "direction": "outbound",
        "type": "image",
        "text": None,
        "status": "delivered",
        "failure": None,
        "author": None,
        "send_at": None,
        "is_flagged": False,
        "is_sent_elsewhere": False,
        "historical": False,
        "provider_message_id": SHARED_WAMID,
        "provider_timestamp": "2026-01-10T12:04:00Z",
        "received_at": message.received_at.isoformat().replace("+00:00", "Z"),
        "updated_at": message.updated_at.isoformat().replace("+00:00", "Z"),
        "content": {"body": SHARED_WAMID},
        "content_unavailable": False,
        "content_expired": False,
        "content_expires_at": None,
        "edit_count": 0,
        "edited_at": None,
        "previous_versions": [],
        "statuses": [
            {"status": "sent", "provider_timestamp": "2026-01-10T12:05:00Z", "errors": [], "pricing": PRICING},
            {"status": "delivered", "provider_timestamp": "2026-01-10T12:05:01Z", "errors": [], "pricing": None},
        ],
        "attachments": [],
    }


def test_contact_conversation_and_channel_details_show_their_fields(client_a, world_a: World):
    contact, conversation, channel = world_a.contacts[0], world_a.conversations[0], world_a.channel

    assert client_a.get(f"/api/v1/contacts/{contact.pk}/").json() == {
        "id": str(contact.pk),
        "platform": "whatsapp",
        "external_id": WA_ONE,
        "business_user_id": None,
        "profile": {"name": WA_ONE},
        "profile_seen_at": None,
        "changed_to": None,
        "is_opted_out": False,
        "content_unavailable": False,
        "created_at": contact.created_at.isoformat().replace("+00:00", "Z"),
    }
    assert client_a.get(f"/api/v1/conversations/{conversation.pk}/").json() == {
        "id": str(conversation.pk),
        "channel": str(channel.pk),
        "contact": str(contact.pk),
        "last_inbound_at": "2026-01-10T12:00:00Z",
        "window_expires_at": "2026-01-11T12:00:00Z",
        "last_message": {
            "id": str(world_a.messages[4].pk),
            "type": "text",
            "direction": "inbound",
            "provider_timestamp": "2026-01-10T12:03:00Z",
        },
        "updated_at": conversation.updated_at.isoformat().replace("+00:00", "Z"),
    }
    assert client_a.get(f"/api/v1/channels/{channel.pk}/").json() == {
        "id": str(channel.pk),
        "platform": "whatsapp",
        "provider_id": "1001",
        "display_name": "Line 1001",
        "status": "active",
        "paused_reason": "",
        "waba_id": "",
        "quality_rating": "",
        "messaging_limit_tier": "",
        "daily_conversation_limit": None,
        "max_messages_per_second": 80,
        "requested_display_name": "",
        "display_name_status": "",
        "is_coexistence": False,
    }


def test_a_contacts_business_scoped_id_and_opt_out_are_shown(client_a, world_a: World):
    contact = world_a.contacts[1]
    contact.business_user_id = "US.13491208655302741918"
    contact.is_opted_out = True
    contact.save()

    shown = client_a.get(f"/api/v1/contacts/{contact.pk}/").json()

    assert (shown["business_user_id"], shown["is_opted_out"], shown["content_unavailable"]) == (
        "US.13491208655302741918",
        True,
        False,
    )


# --- Another tenant's ids do not exist -----------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "pick"),
    [
        ("messages", lambda world: world.messages[0]),
        ("contacts", lambda world: world.contacts[0]),
        ("conversations", lambda world: world.conversations[0]),
        ("channels", lambda world: world.channel),
    ],
)
def test_another_tenants_id_answers_the_same_404_as_a_random_id(client_a, client_b, world_a, world_b, route, pick):
    theirs = client_a.get(f"/api/v1/{route}/{pick(world_b).pk}/")
    unknown = client_a.get(f"/api/v1/{route}/{uuid.uuid4()}/")

    assert theirs.status_code == unknown.status_code == 404
    assert theirs.content == unknown.content
    assert theirs.json() == NOT_FOUND
    assert client_b.get(f"/api/v1/{route}/{pick(world_b).pk}/").status_code == 200


# --- Filters -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (lambda a, b: {"channel": a.channel.pk}, lambda a, b: a.messages),
        (lambda a, b: {"channel": b.channel.pk}, lambda a, b: []),
        (lambda a, b: {"contact": a.contacts[1].pk}, lambda a, b: a.messages[5:]),
        (lambda a, b: {"conversation": a.conversations[0].pk}, lambda a, b: a.messages[:5]),
        (lambda a, b: {"direction": "outbound"}, lambda a, b: a.messages[5:]),
        (lambda a, b: {"direction": "inbound"}, lambda a, b: a.messages[:5]),
        (lambda a, b: {"type": "image"}, lambda a, b: a.messages[5:]),
        (lambda a, b: {"type": "sticker"}, lambda a, b: []),
        (lambda a, b: {"status": "delivered"}, lambda a, b: a.messages[5:]),
        (lambda a, b: {"provider_message_id": "wamid.A3"}, lambda a, b: [a.messages[3]]),
        (lambda a, b: {"provider_message_id": SHARED_WAMID}, lambda a, b: [a.messages[5]]),
        (lambda a, b: {"provider_message_id": "wamid.B1"}, lambda a, b: []),
        (lambda a, b: {"since": "2026-01-10T12:01:00Z"}, lambda a, b: a.messages[1:]),
        (lambda a, b: {"until": "2026-01-10T12:01:00+00:00"}, lambda a, b: a.messages[:1]),
        (
            lambda a, b: {"since": "2026-01-10T13:01:00+01:00", "until": "2026-01-10T12:03:00Z"},
            lambda a, b: a.messages[1:4],
        ),
        (lambda a, b: {"direction": "inbound", "since": "2026-01-10T12:02:00Z"}, lambda a, b: a.messages[3:5]),
    ],
)
def test_message_filters_select_exactly_the_matching_rows(client_a, world_a, world_b, params, expected):
    response = client_a.get("/api/v1/messages/", params(world_a, world_b))

    assert _result_ids(response) == _newest_first(expected(world_a, world_b))


def test_the_provider_message_id_filter_finds_each_tenants_own_message(client_a, client_b, world_a, world_b):
    query = {"provider_message_id": SHARED_WAMID}

    assert _result_ids(client_a.get("/api/v1/messages/", query)) == [str(world_a.messages[5].pk)]
    assert _result_ids(client_b.get("/api/v1/messages/", query)) == [str(world_b.messages[0].pk)]


def test_the_external_id_filter_finds_each_tenants_own_contact(client_a, client_b, world_a, world_b):
    assert _result_ids(client_a.get("/api/v1/contacts/", {"external_id": WA_ONE})) == [str(world_a.contacts[0].pk)]
    assert _result_ids(client_a.get("/api/v1/contacts/", {"external_id": WA_TWO})) == [str(world_a.contacts[1].pk)]
    assert _result_ids(client_b.get("/api/v1/contacts/", {"external_id": WA_ONE})) == [str(world_b.contacts[0].pk)]
    assert _result_ids(client_b.get("/api/v1/contacts/", {"external_id": WA_TWO})) == []


@pytest.mark.parametrize(
    ("params", "body", "code"),
    [
        ({"channel": "not-a-uuid"}, {"channel": ["Must be a valid UUID."]}, "invalid"),
        ({"contact": "123"}, {"contact": ["Must be a valid UUID."]}, "invalid"),
        ({"conversation": "0000-zz"}, {"conversation": ["Must be a valid UUID."]}, "invalid"),
        ({"direction": "sideways"}, {"direction": ['"sideways" is not a valid choice.']}, "invalid_choice"),
        ({"status": "lost"}, {"status": ['"lost" is not a valid choice.']}, "invalid_choice"),
        (
            {"since": "yesterday"},
            {
                "since": [
                    "Datetime has wrong format. Use one of these formats instead: "
                    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
                ]
            },
            "invalid",
        ),
        (
            {"until": "2026-13-01T00:00:00Z"},
            {
                "until": [
                    "Datetime has wrong format. Use one of these formats instead: "
                    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
                ]
            },
            "invalid",
        ),
        (
            {"since": "2026-01-11T00:00:00Z", "until": "2026-01-10T00:00:00Z"},
            {"until": ["Must not be earlier than since."]},
            "invalid",
        ),
    ],
)
def test_bad_message_filters_answer_400_naming_the_parameter(client_a, params, body, code):
    response = client_a.get("/api/v1/messages/", params)

    assert response.status_code == 400
    assert response.json() == invalid_request(*((field, code, detail) for field, [detail] in body.items()))


# --- Pagination ----------------------------------------------------------------------------------


def test_cursor_pagination_walks_three_pages_without_duplicates_or_gaps(client_a, world_a: World):
    seen: list[str] = []
    sizes: list[int] = []
    url: str | None = "/api/v1/messages/?page_size=2"
    while url is not None:
        body = client_a.get(url).json()
        sizes.append(len(body["results"]))
        seen.extend(row["id"] for row in body["results"])
        url = body["next"]

    assert sizes == [2, 2, 2]
    assert seen == _newest_first(world_a.messages)
    assert len(set(seen)) == 6


def test_the_first_page_has_no_previous_and_the_last_no_next(client_a, world_a: World):
    first = client_a.get("/api/v1/messages/", {"page_size": 4}).json()
    last = client_a.get(first["next"]).json()

    assert first["previous"] is None
    assert [row["id"] for row in last["results"]] == _newest_first(world_a.messages)[4:]
    assert last["next"] is None
    assert [row["id"] for row in client_a.get(last["previous"]).json()["results"]] == _newest_first(world_a.messages)[
        :4
    ]


# --- Authentication and scopes -------------------------------------------------------------------

ROUTES = ["messages", "contacts", "conversations", "channels"]


@pytest.mark.parametrize("route", ROUTES)
def test_no_key_answers_401_on_lists_and_details(world_a: World, route: str):
    for url in [f"/api/v1/{route}/", f"/api/v1/{route}/{uuid.uuid4()}/"]:
        response = APIClient().get(url)
        assert response.status_code == 401
        assert response.json() == problem(401, "not_authenticated", "Authentication credentials were not provided.")


@pytest.mark.parametrize(
    ("route", "scope", "missing"),
    [
        ("messages", ApiScope.CONTACTS_READ, "messages:read"),
        ("conversations", ApiScope.CONTACTS_READ, "messages:read"),
        ("channels", ApiScope.CONTACTS_READ, "messages:read"),
        ("contacts", ApiScope.MESSAGES_READ, "contacts:read"),
    ],
)
def test_a_key_without_the_scope_answers_403(world_a: World, world_b: World, route, scope, missing):
    client = _client(api_key_issue(tenant=world_a.tenant, name="narrow", scopes=[scope, ApiScope.KEYS_READ]))
    expected = problem(403, "insufficient_scope", f"This API key does not have the {missing} scope.")

    for url in [f"/api/v1/{route}/", f"/api/v1/{route}/{uuid.uuid4()}/"]:
        response = client.get(url)
        assert response.status_code == 403
        assert response.json() == expected


# --- Sealed values that do not open --------------------------------------------------------------


def test_content_that_does_not_open_shows_as_null_and_unavailable(client_a, world_a: World):
    broken, donor = world_a.messages[1], world_a.messages[2]
    # A ciphertext is bound to its row: another row's sealed content never opens here.
    donor_content = Message.objects.filter(pk=donor.pk).values_list("content", flat=True).get()
    Message.objects.filter(pk=broken.pk).update(content=Sealed(donor_content))

    detail = client_a.get(f"/api/v1/messages/{broken.pk}/").json()
    listed = {row["id"]: row for row in client_a.get("/api/v1/messages/").json()["results"]}

    assert (detail["content"], detail["content_unavailable"], detail["provider_message_id"]) == (
        None,
        True,
        "wamid.A1",
    )
    assert (listed[str(broken.pk)]["content"], listed[str(broken.pk)]["content_unavailable"]) == (None, True)
    assert (listed[str(donor.pk)]["content"], listed[str(donor.pk)]["content_unavailable"]) == (
        {"body": "wamid.A2"},
        False,
    )


def test_an_erased_contact_shows_null_identifiers_and_the_others_stay_readable(client_a, world_a: World):
    erased, kept = world_a.contacts
    DataKey.objects.filter(purpose=Purpose.SUBJECT, scope=str(erased.pk)).update(
        state=KeyState.DESTROYED, wrapped_key=None
    )

    listed = {row["id"]: row for row in client_a.get("/api/v1/contacts/").json()["results"]}

    assert client_a.get(f"/api/v1/contacts/{erased.pk}/").json()["content_unavailable"] is True
    assert (listed[str(erased.pk)]["external_id"], listed[str(erased.pk)]["profile"]) == (None, None)
    assert (listed[str(kept.pk)]["external_id"], listed[str(kept.pk)]["content_unavailable"]) == (WA_TWO, False)


# --- Secrets and schema --------------------------------------------------------------------------


def test_the_access_token_never_appears_in_a_channel_response(client_a, client_b, world_a: World, world_b: World):
    bodies = [
        client_a.get("/api/v1/channels/").content,
        client_a.get(f"/api/v1/channels/{world_a.channel.pk}/").content,
        client_b.get("/api/v1/channels/").content,
        client_b.get(f"/api/v1/channels/{world_b.channel.pk}/").content,
    ]

    for body in bodies:
        assert TOKEN_A.encode() not in body and TOKEN_B.encode() not in body
        assert b"access_token" not in body and b"EAAG" not in body
    assert Channel.objects.get(pk=world_a.channel.pk).access_token == TOKEN_A  # the token is there to leak


def test_the_schema_lists_every_read_operation(db: None):
    response = APIClient().get("/api/v1/schema/")

    paths = response.json()["paths"]
    assert {
        path: sorted(paths[path]) for path in paths if not path.startswith(("/api/v1/api-keys", "/api/v1/ten"))
    } == {
        "/api/v1/messages/": ["get", "post"],
        "/api/v1/messages/{message_id}/": ["get"],
        "/api/v1/messages/{message_id}/cancel/": ["post"],
        "/api/v1/messages/{message_id}/media/{attachment_id}/": ["get"],
        "/api/v1/contacts/": ["get"],
        "/api/v1/contacts/{contact_id}/": ["get"],
        "/api/v1/conversations/": ["get"],
        "/api/v1/conversations/{conversation_id}/": ["get"],
        "/api/v1/channels/": ["get"],
        "/api/v1/channels/{channel_id}/": ["get"],
        "/api/v1/channels/{channel_id}/events/": ["get"],
        "/api/v1/channel-events/": ["get"],
        "/api/v1/parked-statuses/": ["get"],
        "/api/v1/parked-receipts/": ["get"],
        "/api/v1/templates/": ["get", "post"],
        "/api/v1/templates/sync/": ["post"],
        "/api/v1/templates/{template_id}/": ["delete", "get"],
        "/api/v1/policies/": ["get"],
        "/api/v1/contacts/{contact_id}/export/": ["post"],
        "/api/v1/contacts/{contact_id}/exports/{export_id}/": ["get"],
        "/api/v1/exports/{export_id}/download/": ["get"],
        "/api/v1/contacts/{contact_id}/erase/": ["post"],
        "/api/v1/event-endpoints/": ["get", "post"],
        "/api/v1/event-endpoints/{endpoint_id}/": ["delete", "get", "patch"],
        "/api/v1/event-endpoints/{endpoint_id}/rotate-secret/": ["post"],
        "/api/v1/event-endpoints/{endpoint_id}/test/": ["post"],
        "/api/v1/event-endpoints/{endpoint_id}/replay/": ["post"],
        "/api/v1/event-endpoints/{endpoint_id}/resend-failed/": ["post"],
        "/api/v1/event-endpoints/{endpoint_id}/deliveries/": ["get"],
        "/api/v1/events/": ["get"],
        "/api/v1/events/{event_id}/replay/": ["post"],
        "/api/v1/reports/transparency/": ["get"],
        "/api/v1/reports/transparency/issued/{digest}/": ["get"],
    }
    assert paths["/api/v1/messages/"]["get"]["operationId"] == "messages_list"
    assert {parameter["name"] for parameter in paths["/api/v1/messages/"]["get"]["parameters"]} == {
        "channel",
        "contact",
        "conversation",
        "direction",
        "type",
        "status",
        "provider_message_id",
        "since",
        "until",
        "updated_since",
        "content_expired",
        "historical",
        "include",
        "cursor",
        "page_size",
    }
