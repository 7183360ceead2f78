"""schemathesis over the whole OpenAPI document, against the app in process: every operation, a bounded and
reproducible number of generated requests each (valid and invalid ones, schemathesis's coverage cases
included), with a key holding every scope of a tenant that has a channel, contacts and messages; then the
tenant's own objects, which generated ids do not reach. No answer is a 5xx, none has a status or a content type
the document does not list, and every body matches its documented schema.

Sends only queue: the test's transaction never commits, so nothing is published, and no worker runs; the Graph
base URL points at a closed port besides.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, Phase, settings
from pytest_django.fixtures import Settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.actors import CLI_ACTOR
from accounts.apikeys import api_key_issue
from accounts.models import ApiKey, ApiScope, Tenant
from messaging.channels import channel_add, meta_app_register
from messaging.models import Channel, Contact, Conversation, Direction, Message, MessageStatus

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
WA_IDS = ("15550001111", "15550002222")
UNREACHABLE_GRAPH = "http://127.0.0.1:9"  # the discard port: nothing listens

# Loaded when the module is collected (Django is set up by then; the document needs no database).
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())


@pytest.fixture(autouse=True)
def _requests_keep_the_test_connection() -> Iterator[None]:
    """A request's start and end close a connection that is inside a transaction, as the test's is; Django's
    test client turns that off for its requests, and so must a WSGI client."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _graph_out_of_reach(settings: Settings) -> None:
    settings.GATEWAY_GRAPH_BASE_URL = UNREACHABLE_GRAPH


@dataclass(frozen=True)
class World:
    """A tenant with a channel, two contacts in open conversations and a few messages either way, and a key
    holding every scope."""

    authorization: dict[str, str]
    api_key: ApiKey
    channel: Channel
    contact: Contact
    conversation: Conversation
    message: Message


@pytest.fixture
def world(tenant_a: Tenant) -> World:
    meta_app = meta_app_register(tenant=tenant_a, name="app", app_secret="s" * 32, actor=CLI_ACTOR).meta_app
    channel = channel_add(
        tenant=tenant_a,
        meta_app=meta_app,
        platform="whatsapp",
        provider_id="1001",
        access_token="EAAG-token-of-channel-1001",
        actor=CLI_ACTOR,
        display_name="Line 1001",
    )
    messages = []
    for index, wa_id in enumerate(WA_IDS):
        contact = Contact.objects.create(tenant=tenant_a, platform="whatsapp", external_id=wa_id, profile={})
        conversation = Conversation.objects.create(
            tenant=tenant_a, channel=channel, contact=contact, last_inbound_at=timezone.now()
        )
        messages += [_message(conversation, index, direction) for direction in (Direction.INBOUND, Direction.OUTBOUND)]
    issued = api_key_issue(tenant=tenant_a, name="everything", scopes=list(ApiScope.values))
    return World(
        authorization={"Authorization": f"Bearer {issued.plaintext}"},
        api_key=issued.api_key,
        channel=channel,
        contact=messages[0].contact,
        conversation=messages[0].conversation,
        message=messages[0],
    )


def _message(conversation: Conversation, index: int, direction: str) -> Message:
    return Message.objects.create(
        tenant=conversation.tenant,
        channel=conversation.channel,
        conversation=conversation,
        contact=conversation.contact,
        direction=direction,
        message_type="text",
        status=MessageStatus.RECEIVED if direction == Direction.INBOUND else MessageStatus.DELIVERED,
        received_at=T0,
        provider_timestamp=T0 + timedelta(minutes=index),
        provider_message_id=f"wamid.{index}.{direction}",
        content={"body": "hello"},
    )


@schema.parametrize()
@settings(
    max_examples=5,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case: Any, world: World) -> None:
    response = case.call_and_validate(headers=world.authorization, checks=CHECKS)

    # schemathesis also sends some requests without the key, to see them refused; with it, none is.
    assert response.status_code != 401 or "Authorization" not in response.request.headers


def _call(world: World, path: str, method: str, expected_status: int, **case: Any) -> Any:
    response = schema[path][method].Case(**case).call_and_validate(headers=world.authorization, checks=CHECKS)
    assert response.status_code == expected_status, response.text
    return response.json()


def test_the_tenants_own_objects_answer_as_documented(world: World) -> None:
    """What generated ids rarely reach: each object's detail, a send, its cancel, an export and an erasure."""
    for path, name, value in [
        ("/api/v1/messages/{message_id}/", "message_id", world.message.pk),
        ("/api/v1/contacts/{contact_id}/", "contact_id", world.contact.pk),
        ("/api/v1/conversations/{conversation_id}/", "conversation_id", world.conversation.pk),
        ("/api/v1/channels/{channel_id}/", "channel_id", world.channel.pk),
        ("/api/v1/channels/{channel_id}/events/", "channel_id", world.channel.pk),
        ("/api/v1/api-keys/{api_key_id}/", "api_key_id", world.api_key.pk),
    ]:
        _call(world, path, "GET", 200, path_parameters={name: str(value)})
    send = {"channel": str(world.channel.pk), "to": "+" + WA_IDS[0], "type": "text", "text": {"body": "Hi"}}
    sent = _call(world, "/api/v1/messages/", "POST", 202, body=send, media_type="application/json")
    cancel = {"path_parameters": {"message_id": sent["id"]}}
    _call(world, "/api/v1/messages/{message_id}/cancel/", "POST", 200, **cancel)
    refused = _call(world, "/api/v1/messages/{message_id}/cancel/", "POST", 409, **cancel)
    assert (refused["code"], refused["message_status"]) == ("not_cancellable", "cancelled")
    contact = {"contact_id": str(world.contact.pk)}
    export = _call(world, "/api/v1/contacts/{contact_id}/export/", "POST", 202, path_parameters=contact)
    export_path = "/api/v1/contacts/{contact_id}/exports/{export_id}/"
    _call(world, export_path, "GET", 200, path_parameters={**contact, "export_id": export["id"]})
    _call(world, "/api/v1/contacts/{contact_id}/erase/", "POST", 200, path_parameters=contact)
