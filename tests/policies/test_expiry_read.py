"""Read-time enforcement: expired content is never served, even though no purge ran — through the API (content
null, ``content_expired``; media 410), the admin (shown expired, never revealed), the selectors, and the field
itself (decryption refuses it). Held content is not expired; purged content always is."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db.models import QuerySet
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR
from accounts.models import ApiScope, Tenant
from encryption.fields import ContentExpiredError
from messaging.models import Channel, MediaAttachment, Message, MessageStatus
from messaging.outbound import dispatch
from messaging.outbound.requests import message_send
from messaging.providers.sending import SendRequest
from messaging.selectors import content_expired_q, content_live_q, messages_with_live_content
from policies.retention.services import retention_policy_update
from tests.policies.conftest import channel_create, deliver, whatsapp_body, whatsapp_status, whatsapp_text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("installation_limits")]
DAY = timedelta(days=1)


def _policy(tenant: Tenant, channel: Channel | None = None, **values: Any) -> None:
    retention_policy_update(tenant=tenant, channel=channel, actor=CLI_ACTOR, values=values)


def _received(channel: Channel, wamid: str, *, age: timedelta, now: datetime) -> Message:
    deliver(channel, whatsapp_text(channel, wamid), received_at=now - age)
    return Message.objects.get(channel=channel, received_at=now - age)


def _sent(tenant: Tenant, channel: Channel, *, at: datetime, wamid: str) -> Message:
    request = SendRequest(
        channel_id=channel.pk, message_type="template", payload={"name": "welcome", "language": "en"}, to="16505551234"
    )
    message = message_send(tenant=tenant, request=request, now=at)
    message.provider_message_id = wamid
    message.status = MessageStatus.ACCEPTED
    message.save(update_fields=["provider_message_id", "provider_message_index", "status"])
    return message


def _api_view(client: APIClient, message: Message) -> tuple[Any, bool]:
    body = client.get(f"/api/v1/messages/{message.pk}/").json()
    return body["content"], body["content_expired"]


def _ids(messages: QuerySet[Message]) -> set[uuid.UUID]:
    return set(messages.values_list("pk", flat=True))


@pytest.fixture
def reader_a(api_client: Callable[..., APIClient], tenant_a: Tenant) -> APIClient:
    return api_client(tenant_a, ApiScope.MESSAGES_READ)


# --- 29, 30 and 31 days under a 30-day policy ---------------------------------------------------------------


def test_content_at_29_30_and_31_days_under_a_30_day_policy(
    tenant_a: Tenant, channel_a: Channel, reader_a: APIClient, operator_client: Client
) -> None:
    _policy(tenant_a, content_max_days=30)
    now = timezone.now()
    day29, day30, day31 = (_received(channel_a, f"wamid.D{age}", age=age * DAY, now=now) for age in (29, 30, 31))

    # The API: the rows are all there; only the 29-day-old content is served.
    assert _api_view(reader_a, day29) == (day29.content, False)
    assert day29.content["text"] == {"body": "hello"}
    assert _api_view(reader_a, day30) == (None, True)
    assert _api_view(reader_a, day31) == (None, True)
    listed = {row["id"]: row for row in reader_a.get("/api/v1/messages/").json()["results"]}
    assert {key: (row["content"] is None, row["content_expired"]) for key, row in listed.items()} == {
        str(day29.pk): (False, False),
        str(day30.pk): (True, True),
        str(day31.pk): (True, True),
    }
    assert {row["content_unavailable"] for row in listed.values()} == {False}

    # The selectors.
    assert _ids(messages_with_live_content(Message.objects.all())) == {day29.pk}
    assert _ids(Message.objects.filter(content_expired_q())) == {day30.pk, day31.pk}
    assert _ids(Message.objects.filter(content_live_q(now=now - DAY / 2))) == {day29.pk, day30.pk}

    # The field: decryption refuses expired content.
    with pytest.raises(ContentExpiredError, match="has expired"):
        Message.objects.get(pk=day30.pk).content  # noqa: B018
    assert Message.objects.get(pk=day29.pk).content["text"] == {"body": "hello"}

    # The admin.
    for message, shown in ((day29, "(encrypted)"), (day30, "expired (retention)"), (day31, "expired (retention)")):
        page = operator_client.get(reverse("admin:messaging_message_change", args=[message.pk])).content.decode()
        assert shown in page
        assert ("Reveal…" in page) is (message == day29)


def test_the_list_filters_by_expired_content(tenant_a: Tenant, channel_a: Channel, reader_a: APIClient) -> None:
    _policy(tenant_a, content_max_days=30)
    now = timezone.now()
    live = _received(channel_a, "wamid.LIVE", age=DAY, now=now)
    gone = _received(channel_a, "wamid.GONE", age=40 * DAY, now=now)

    def listed(query: str) -> set[str]:
        response = reader_a.get(f"/api/v1/messages/{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert listed("?content_expired=true") == {str(gone.pk)}
    assert listed("?content_expired=false") == {str(live.pk)}
    assert listed("") == {str(live.pk), str(gone.pk)}
    assert reader_a.get("/api/v1/messages/?content_expired=maybe").status_code == 400


def test_expired_content_is_never_revealed_in_the_admin(
    tenant_a: Tenant, channel_a: Channel, operator_client: Client
) -> None:
    _policy(tenant_a, content_max_days=30)
    expired = _received(channel_a, "wamid.OLD", age=31 * DAY, now=timezone.now())
    reveal = reverse("admin:messaging_message_reveal", args=[expired.pk])

    response = operator_client.post(reveal, {"field_names": ["content"], "reason": "a customer asked for it"})

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:messaging_message_change", args=[expired.pk])
    followed = operator_client.get(response["Location"]).content.decode()
    assert "expired under the tenant&#x27;s retention policy: it is never revealed" in followed
    assert "hello" not in followed


# --- delivery, read, the maximum, and channel overrides ----------------------------------------------------------


def test_purge_on_delivery_serves_the_content_until_the_recipient_has_it(
    tenant_a: Tenant, channel_a: Channel, reader_a: APIClient
) -> None:
    _policy(tenant_a, purge_content_on_delivery=True)
    delivered = _sent(tenant_a, channel_a, at=timezone.now() - DAY, wamid="wamid.DELIVERED")
    pending = _sent(tenant_a, channel_a, at=timezone.now() - DAY, wamid="wamid.PENDING")
    at = (timezone.now() - timedelta(seconds=5)).replace(microsecond=0)

    deliver(channel_a, whatsapp_status(channel_a, "wamid.DELIVERED", "delivered", at))

    assert _api_view(reader_a, delivered) == (None, True)
    assert _api_view(reader_a, pending)[1] is False
    body = reader_a.get(f"/api/v1/messages/{delivered.pk}/").json()
    assert (body["status"], body["content_expires_at"]) == ("delivered", at.isoformat().replace("+00:00", "Z"))


def test_disappearing_messages_go_once_read(tenant_a: Tenant, channel_a: Channel, reader_a: APIClient) -> None:
    _policy(tenant_a, disappearing_seconds_after_read=3600)
    long_read = _sent(tenant_a, channel_a, at=timezone.now() - DAY, wamid="wamid.READ2H")
    just_read = _sent(tenant_a, channel_a, at=timezone.now() - DAY, wamid="wamid.READ10M")
    delivered_only = _sent(tenant_a, channel_a, at=timezone.now() - DAY, wamid="wamid.UNREAD")
    now = timezone.now().replace(microsecond=0)

    deliver(channel_a, whatsapp_status(channel_a, "wamid.READ2H", "read", now - timedelta(hours=2)))
    deliver(channel_a, whatsapp_status(channel_a, "wamid.READ10M", "read", now - timedelta(minutes=10)))
    deliver(channel_a, whatsapp_status(channel_a, "wamid.UNREAD", "delivered", now - timedelta(hours=2)))

    assert _api_view(reader_a, long_read) == (None, True)
    assert _api_view(reader_a, just_read)[1] is False
    assert _api_view(reader_a, delivered_only)[1] is False


def test_undelivered_content_lives_to_the_maximum_and_delivered_content_by_the_after_delivery_rule(
    tenant_a: Tenant, channel_a: Channel, reader_a: APIClient
) -> None:
    _policy(tenant_a, content_max_days=30, content_days_after_delivery=7)
    now = timezone.now().replace(microsecond=0)
    undelivered_29 = _sent(tenant_a, channel_a, at=now - 29 * DAY, wamid="wamid.U29")
    undelivered_31 = _sent(tenant_a, channel_a, at=now - 31 * DAY, wamid="wamid.U31")
    delivered_8 = _sent(tenant_a, channel_a, at=now - 10 * DAY, wamid="wamid.D8")
    delivered_6 = _sent(tenant_a, channel_a, at=now - 10 * DAY, wamid="wamid.D6")

    deliver(channel_a, whatsapp_status(channel_a, "wamid.D8", "delivered", now - 8 * DAY))
    deliver(channel_a, whatsapp_status(channel_a, "wamid.D6", "delivered", now - 6 * DAY))

    assert {message.message_type for message in (undelivered_29, undelivered_31)} == {"template"}
    assert _api_view(reader_a, undelivered_29)[1] is False
    assert _api_view(reader_a, undelivered_31) == (None, True)
    assert _api_view(reader_a, delivered_8) == (None, True)
    assert _api_view(reader_a, delivered_6)[1] is False


def test_a_channel_override_governs_its_channel_at_read_time(
    tenant_a: Tenant, channel_a: Channel, reader_a: APIClient
) -> None:
    short = channel_create(tenant_a, "3003003003")
    _policy(tenant_a, content_max_days=30)
    _policy(tenant_a, short, content_max_days=10)
    now = timezone.now()

    on_tenant_policy = _received(channel_a, "wamid.T15", age=15 * DAY, now=now)
    on_override = _received(short, "wamid.O15", age=15 * DAY, now=now)

    assert _api_view(reader_a, on_tenant_policy)[1] is False
    assert _api_view(reader_a, on_override) == (None, True)


# --- holds and purges -------------------------------------------------------------------------------------------


def test_held_content_is_served_past_its_expiry_and_purged_content_never(
    tenant_a: Tenant, channel_a: Channel, reader_a: APIClient
) -> None:
    _policy(tenant_a, content_max_days=30)
    now = timezone.now()
    held = _received(channel_a, "wamid.HELD", age=31 * DAY, now=now)
    purged = _received(channel_a, "wamid.PURGED", age=DAY, now=now)
    Message.objects.filter(pk=held.pk).update(hold_id=uuid.uuid4())
    Message.objects.filter(pk=purged.pk).update(content_purged_at=now, content=None)

    assert _api_view(reader_a, held)[1] is False
    assert Message.objects.get(pk=held.pk).content["text"] == {"body": "hello"}
    assert _api_view(reader_a, purged) == (None, True)
    assert _ids(messages_with_live_content(Message.objects.all())) == {held.pk}
    with pytest.raises(ContentExpiredError):
        Message.objects.get(pk=purged.pk).content  # noqa: B018


# --- media ---------------------------------------------------------------------------------------------------------


def _image(channel: Channel, wamid: str) -> bytes:
    image = {"id": "1003383421387256", "mime_type": "image/jpeg"}
    message = {"from": "16505551234", "id": wamid, "timestamp": "1750000000", "type": "image", "image": image}
    return whatsapp_body(
        channel, {"contacts": [{"profile": {"name": "Ada"}, "wa_id": "16505551234"}], "messages": [message]}
    )


def _media_url(attachment: MediaAttachment) -> str:
    return f"/api/v1/messages/{attachment.message_id}/media/{attachment.pk}/"


def test_media_past_its_expiry_or_of_expired_content_answers_410(
    tenant_a: Tenant, channel_a: Channel, reader_a: APIClient
) -> None:
    _policy(tenant_a, content_max_days=30, media_days=5)
    now = timezone.now()
    deliver(channel_a, _image(channel_a, "wamid.FRESH"), received_at=now - DAY)
    deliver(channel_a, _image(channel_a, "wamid.OLDFILE"), received_at=now - 6 * DAY)
    fresh, old_file = (MediaAttachment.objects.get(message__received_at=now - age) for age in (DAY, 6 * DAY))
    Message.objects.filter(pk=fresh.message_id).update(content_expires_at=now - timedelta(seconds=1))
    live = MediaAttachment.objects.create(
        tenant=tenant_a,
        message=Message.objects.get(pk=old_file.message_id),
        position=1,
        received_at=old_file.received_at,
        kind="image",
        source_reference="ref",
        expires_at=now + DAY,
    )
    Message.objects.filter(pk=old_file.message_id).update(content_expires_at=now + DAY)

    for expired in (fresh, old_file):  # content expired; the file's own lifetime over
        response = reader_a.get(_media_url(expired))
        assert (response.status_code, response.json()["code"]) == (410, "media_expired")
    still_pending = reader_a.get(_media_url(live))
    assert (still_pending.status_code, still_pending.json()["code"]) == (409, "media_pending")


def test_media_of_content_stored_already_expired_is_never_fetched(tenant_a: Tenant, channel_a: Channel) -> None:
    _policy(tenant_a, content_max_days=30)

    deliver(channel_a, _image(channel_a, "wamid.LATE"), received_at=timezone.now() - 31 * DAY)

    assert Message.objects.count() == 1
    assert not MediaAttachment.objects.exists()


# --- the dispatcher ------------------------------------------------------------------------------------------------


def test_a_queued_message_whose_content_expired_fails_without_a_call(tenant_a: Tenant, channel_a: Channel) -> None:
    request = SendRequest(
        channel_id=channel_a.pk,
        message_type="template",
        payload={"name": "welcome", "language": "en"},
        to="16505551234",
    )
    message = message_send(tenant=tenant_a, request=request)
    Message.objects.filter(pk=message.pk).update(content_expires_at=timezone.now() - timedelta(seconds=1))

    outcomes = dispatch.messages_send(message_ids=[message.pk])

    assert outcomes == {"failed": 1}
    failed = Message.objects.get(pk=message.pk)
    assert failed.status == MessageStatus.FAILED and not failed.attempts.exists()
