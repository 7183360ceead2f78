"""Inbound media: webhooks in through the real endpoint, a real local server standing in for Graph and the
CDNs, the ``media.download`` task run eagerly (retries included), and one run by a real worker process."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import storages
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR
from accounts.apikeys import api_key_issue
from accounts.models import ApiScope, Tenant
from core.http import http_client_close
from core.locks import held_lock
from messaging.channels import channel_add, meta_app_register
from messaging.inbound import media as media_module
from messaging.inbound.media import MAX_ATTEMPTS, media_attachments_plan, media_pending_requeue
from messaging.inbound.media_fetch import MediaRetryError, media_attachment_download, media_url_allowed
from messaging.inbound.media_storage import media_attachment_read
from messaging.models import Channel, MediaAttachment, MediaStatus, Message, MessageStatus, MetaApp
from messaging.providers.events import MessageEvent
from messaging.providers.meta_messaging import events as messaging_events
from messaging.providers.registry import delivery_events, parse_webhook, stored_media_sources
from messaging.providers.whatsapp import events as whatsapp_events
from messaging.tasks import media_download_batch_task, media_download_task
from tests.conftest import wait_for, worker_process
from tests.local_http import LocalServer, Reply
from tests.problems import NOT_FOUND
from webhooks.models import Delivery
from webhooks.services import delivery_process
from webhooks.signature import signature_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta"
SECRET = "m" * 32
TOKEN = "EAAG" + "t" * 60
MEDIA_ID = "1003383421387256"
GRAPH_PATH = f"/v25.0/{MEDIA_ID}"
FILE_PATH = "/lookaside/whatsapp_business/attachments/?mid=133"
MARKER = b"PLAINTEXT-MARKER:"
PHOTO = b"\xff\xd8\xff\xe0" + MARKER * 300


def _sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@pytest.fixture
def meta(settings: Settings, tmp_path: Path) -> Iterator[LocalServer]:
    """Graph and the CDN on one local server; its origin is the Graph base URL (so http is allowed for it)."""
    server = LocalServer().start()
    settings.GATEWAY_GRAPH_BASE_URL = server.base_url
    settings.GATEWAY_GRAPH_API_VERSION = "v25.0"
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}},
    }
    yield server
    server.stop()
    http_client_close()


def _app(tenant: Tenant) -> MetaApp:
    return meta_app_register(tenant=tenant, name=f"App {tenant.slug}", app_secret=SECRET, actor=CLI_ACTOR).meta_app


def _channel(app: MetaApp, platform: str, provider_id: str) -> Channel:
    assert app.tenant is not None
    return channel_add(
        tenant=app.tenant,
        meta_app=app,
        platform=platform,
        provider_id=provider_id,
        access_token=TOKEN,
        actor=CLI_ACTOR,
    )


def _deliver(app: MetaApp, payload: dict[str, Any]) -> Message:
    """Through the real webhook endpoint and processing (the task that would follow is not published here)."""
    body = json.dumps(payload).encode()
    response = Client().post(
        f"/webhooks/meta/{app.app_key}/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature_for(SECRET, body),
    )
    assert response.status_code == 200
    delivery = Delivery.objects.order_by("-received_at").first()
    assert delivery is not None
    delivery_process(delivery_id=delivery.pk)
    return Message.objects.get(channel__meta_app=app)


def _fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def _whatsapp_image(*, sha256: str | None) -> dict[str, Any]:
    payload = _fixture("whatsapp_image.json")
    image = payload["entry"][0]["changes"][0]["value"]["messages"][0]["image"]
    if sha256 is None:
        del image["sha256"]
    else:
        image["sha256"] = sha256
    return payload


def _messenger_attachments(
    urls: list[str], *, fixture: str = "messenger_attachment_image.json", kind: str = "image"
) -> dict[str, Any]:
    payload = _fixture(fixture)
    message = payload["entry"][0]["messaging"][0]["message"]
    message["attachments"] = [{"type": kind, "payload": {"url": url}} for url in urls]
    return payload


def _graph_answer(server: LocalServer, data: bytes, *, size: int | None = None) -> Reply:
    answer = {
        "messaging_product": "whatsapp",
        "url": server.url(FILE_PATH),
        "mime_type": "image/jpeg",
        "sha256": _sha256_b64(data),
        "file_size": str(len(data) if size is None else size),
        "id": MEDIA_ID,
    }
    return Reply(body=json.dumps(answer).encode(), headers={"Content-Type": "application/json"})


@pytest.fixture
def whatsapp_app(tenant_a: Tenant) -> MetaApp:
    app = _app(tenant_a)
    _channel(app, "whatsapp", "106540352242922")
    return app


@pytest.fixture
def messenger_app(tenant_a: Tenant) -> MetaApp:
    app = _app(tenant_a)
    _channel(app, "messenger", "1234567890")
    return app


def _download(attachment: MediaAttachment) -> str:
    outcome: str = media_download_task.apply(args=(str(attachment.pk),)).get()
    attachment.refresh_from_db()
    return outcome


def _only_attachment(message: Message) -> MediaAttachment:
    attachment: MediaAttachment = MediaAttachment.objects.get(message=message)
    return attachment


# --- planning ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_whatsapp_image_plans_one_pending_attachment_with_its_reference_sealed(whatsapp_app: MetaApp) -> None:
    message = _deliver(whatsapp_app, _whatsapp_image(sha256=_sha256_b64(PHOTO)))

    attachment = _only_attachment(message)
    assert (attachment.tenant_id, attachment.position, attachment.kind) == (message.tenant_id, 0, "image")
    assert (attachment.status, attachment.mime_type, attachment.attempts) == (MediaStatus.PENDING, "image/jpeg", 0)
    assert (attachment.source_reference, attachment.expected_sha256) == (MEDIA_ID, _sha256_b64(PHOTO))
    stored = MediaAttachment.objects.filter(pk=attachment.pk).values_list("source_reference", flat=True).get()
    assert MEDIA_ID.encode() not in bytes(stored)
    assert media_attachments_plan(message=message) == 0  # planned once: unique on (message, position)


@pytest.mark.django_db
def test_a_whatsapp_image_without_hash_or_type_is_an_image_message_with_its_attachment_planned(
    whatsapp_app: MetaApp,
) -> None:
    payload = _whatsapp_image(sha256=None)
    del payload["entry"][0]["changes"][0]["value"]["messages"][0]["image"]["mime_type"]

    message = _deliver(whatsapp_app, payload)

    assert (message.message_type, message.is_flagged) == ("image", False)
    attachment = _only_attachment(message)
    assert (attachment.kind, attachment.source_reference) == ("image", MEDIA_ID)
    assert (attachment.mime_type, attachment.expected_sha256) == ("", None)  # verified against Graph's hash


@pytest.mark.django_db
def test_storing_plans_media_from_the_events_without_reading_the_stored_content_again(
    whatsapp_app: MetaApp, messenger_app: MetaApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*args: object, **kwargs: object) -> None:
        raise AssertionError("the stored content was parsed again")

    for module in (media_module, whatsapp_events, messaging_events):
        name = "stored_media_sources" if module is media_module else "media_sources"
        monkeypatch.setattr(module, name, unreachable)

    image = _deliver(whatsapp_app, _whatsapp_image(sha256=_sha256_b64(PHOTO)))
    attachments = _deliver(messenger_app, _messenger_attachments(["https://a.fbcdn.net/1", "https://b.fbcdn.net/2"]))

    assert MediaAttachment.objects.filter(message=image).count() == 1
    assert MediaAttachment.objects.filter(message=attachments).count() == 2
    with pytest.raises(AssertionError, match="parsed again"):
        media_attachments_plan(message=image)  # the stored path is the one made unreachable


@pytest.mark.parametrize("name", sorted(path.name for path in FIXTURES.glob("*.json")))
def test_a_stored_message_names_the_files_its_event_named(name: str) -> None:
    """Re-planning reads the stored content through the same parser: the same files, in the same order."""
    for event in delivery_events(parse_webhook((FIXTURES / name).read_bytes())):
        if isinstance(event, MessageEvent):
            assert stored_media_sources(platform=event.platform, content=event.content) == event.media


@pytest.mark.django_db
def test_a_text_message_plans_nothing(whatsapp_app: MetaApp) -> None:
    _deliver(whatsapp_app, _fixture("whatsapp_text.json"))

    assert MediaAttachment.objects.count() == 0


@pytest.mark.django_db
def test_every_messenger_attachment_and_an_instagram_story_reply_is_planned_in_order(tenant_a: Tenant) -> None:
    app = _app(tenant_a)
    _channel(app, "instagram", "1234567890")
    payload = _messenger_attachments(
        ["https://a.fbcdn.net/1", "https://b.fbcdn.net/2"], fixture="instagram_story_mention.json", kind="image"
    )
    message_body = payload["entry"][0]["messaging"][0]["message"]
    message_body["attachments"][0]["type"] = "story_mention"
    message_body["attachments"].insert(1, {"type": "fallback", "payload": {"url": "https://example.com/page"}})
    message_body["reply_to"] = {"story": {"url": "https://c.cdninstagram.com/3", "id": "s1"}}

    message = _deliver(app, payload)

    planned = list(MediaAttachment.objects.filter(message=message).order_by("position"))
    assert [(row.position, row.kind, row.source_reference) for row in planned] == [
        (0, "story_mention", "https://a.fbcdn.net/1"),
        (1, "image", "https://b.fbcdn.net/2"),  # the fallback (a link, not a file) is skipped
        (2, "story_reply", "https://c.cdninstagram.com/3"),
    ]


# --- downloading ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_whatsapp_image_is_resolved_downloaded_with_the_bearer_verified_and_stored_sealed(
    meta: LocalServer, whatsapp_app: MetaApp
) -> None:
    message = _deliver(whatsapp_app, _whatsapp_image(sha256=_sha256_b64(PHOTO)))
    attachment = _only_attachment(message)
    meta.route(GRAPH_PATH, _graph_answer(meta, PHOTO))
    meta.route(FILE_PATH, Reply(body=PHOTO, headers={"Content-Type": "image/jpeg"}))

    assert _download(attachment) == "stored"

    assert (attachment.status, attachment.size, attachment.mime_type) == (MediaStatus.STORED, len(PHOTO), "image/jpeg")
    assert (attachment.attempts, attachment.last_error_code) == (1, "")
    assert attachment.stored_at is not None
    assert meta.paths_requested() == [GRAPH_PATH, FILE_PATH]
    assert [seen.headers["authorization"] for seen in meta.requests] == [f"Bearer {TOKEN}"] * 2
    on_disk = Path(storages["media"].path(attachment.storage_name)).read_bytes()
    assert MARKER not in on_disk
    assert len(on_disk) == len(PHOTO) + 33  # envelope v1: header and tag
    assert media_attachment_read(attachment=attachment) == PHOTO


@pytest.mark.django_db
def test_a_messenger_attachment_is_fetched_without_credentials(meta: LocalServer, messenger_app: MetaApp) -> None:
    clip = b"RIFF" + MARKER * 50
    meta.route("/cdn/clip.mp4?oh=1", Reply(body=clip, headers={"Content-Type": "video/mp4"}))
    message = _deliver(messenger_app, _messenger_attachments([meta.url("/cdn/clip.mp4?oh=1")]))
    attachment = _only_attachment(message)

    assert _download(attachment) == "stored"

    assert (attachment.status, attachment.mime_type, attachment.size) == (MediaStatus.STORED, "video/mp4", len(clip))
    assert "authorization" not in meta.requests[0].headers
    assert media_attachment_read(attachment=attachment) == clip


@pytest.mark.django_db
def test_a_hash_mismatch_is_downloaded_once_more_then_failed(
    meta: LocalServer, whatsapp_app: MetaApp, tmp_path: Path
) -> None:
    message = _deliver(whatsapp_app, _whatsapp_image(sha256=_sha256_b64(b"what Meta announced")))
    attachment = _only_attachment(message)
    meta.route(GRAPH_PATH, _graph_answer(meta, PHOTO))
    meta.route(FILE_PATH, Reply(body=PHOTO))

    assert _download(attachment) == "failed:sha256_mismatch"

    assert (attachment.status, attachment.attempts, attachment.storage_name) == (MediaStatus.FAILED, 2, "")
    assert meta.paths_requested() == [GRAPH_PATH, FILE_PATH, GRAPH_PATH, FILE_PATH]
    assert not any(tmp_path.rglob("*.sealed"))


@pytest.mark.django_db
def test_graph_answering_404_fails_at_once_and_the_message_is_untouched(
    meta: LocalServer, whatsapp_app: MetaApp
) -> None:
    message = _deliver(whatsapp_app, _whatsapp_image(sha256=_sha256_b64(PHOTO)))
    attachment = _only_attachment(message)
    meta.route(GRAPH_PATH, Reply(status=404, body=b'{"error":{"code":100}}'))

    assert _download(attachment) == "failed:graph_http_404"

    assert (attachment.status, attachment.attempts, attachment.last_error_code) == (
        MediaStatus.FAILED,
        1,
        "graph_http_404",
    )
    assert meta.paths_requested() == [GRAPH_PATH]
    assert Message.objects.filter(pk=message.pk, status=MessageStatus.RECEIVED).exists()


@pytest.mark.django_db
def test_a_5xx_is_retried_and_the_next_attempt_stores(meta: LocalServer, whatsapp_app: MetaApp) -> None:
    message = _deliver(whatsapp_app, _whatsapp_image(sha256=_sha256_b64(PHOTO)))
    attachment = _only_attachment(message)
    meta.route(GRAPH_PATH, Reply(status=503), _graph_answer(meta, PHOTO))
    meta.route(FILE_PATH, Reply(status=502), Reply(body=PHOTO))

    assert _download(attachment) == "stored"

    assert (attachment.status, attachment.attempts, attachment.last_error_code) == (MediaStatus.STORED, 3, "")
    assert meta.paths_requested() == [GRAPH_PATH, GRAPH_PATH, FILE_PATH, GRAPH_PATH, FILE_PATH]


@pytest.mark.django_db
def test_a_timeout_asks_for_a_retry_and_the_retry_stores(
    meta: LocalServer, whatsapp_app: MetaApp, settings: Settings
) -> None:
    settings.GATEWAY_HTTP_READ_TIMEOUT = 1
    message = _deliver(whatsapp_app, _whatsapp_image(sha256=_sha256_b64(PHOTO)))
    attachment = _only_attachment(message)
    meta.route(GRAPH_PATH, _graph_answer(meta, PHOTO))
    meta.route(FILE_PATH, Reply(body=PHOTO, delay=3), Reply(body=PHOTO))

    with pytest.raises(MediaRetryError):
        media_attachment_download(attachment_id=attachment.pk, is_last_attempt=False)
    attachment.refresh_from_db()
    assert (attachment.status, attachment.last_error_code) == (MediaStatus.PENDING, "timeout")

    assert media_attachment_download(attachment_id=attachment.pk, is_last_attempt=False) == "stored"
    attachment.refresh_from_db()
    assert (attachment.status, attachment.attempts, attachment.last_error_code) == (MediaStatus.STORED, 2, "")


@pytest.mark.django_db
def test_retries_exhausted_mark_the_attachment_failed_and_keep_the_message(
    meta: LocalServer, whatsapp_app: MetaApp
) -> None:
    message = _deliver(whatsapp_app, _whatsapp_image(sha256=_sha256_b64(PHOTO)))
    content_before = message.content
    attachment = _only_attachment(message)
    meta.route(GRAPH_PATH, Reply(status=503))

    assert _download(attachment) == "failed:graph_http_503"

    assert (attachment.status, attachment.attempts) == (MediaStatus.FAILED, 5)
    assert meta.paths_requested() == [GRAPH_PATH] * 5
    kept = Message.objects.get(pk=message.pk)
    assert (kept.status, kept.content) == (MessageStatus.RECEIVED, content_before)


@pytest.mark.django_db
def test_a_body_over_the_cap_fails_as_too_large(meta: LocalServer, whatsapp_app: MetaApp, settings: Settings) -> None:
    settings.GATEWAY_MEDIA_MAX_BYTES = 2048
    big = b"z" * 4096
    message = _deliver(whatsapp_app, _whatsapp_image(sha256=None))
    attachment = _only_attachment(message)
    meta.route(GRAPH_PATH, _graph_answer(meta, big, size=1000))  # Graph understates; the stream is capped anyway
    meta.route(FILE_PATH, Reply(body=big, announce_length=False))

    assert _download(attachment) == "failed:too_large"
    assert attachment.attempts == 1


@pytest.mark.django_db
def test_a_file_graph_announces_over_the_cap_is_never_downloaded(
    meta: LocalServer, whatsapp_app: MetaApp, settings: Settings
) -> None:
    settings.GATEWAY_MEDIA_MAX_BYTES = 2048
    message = _deliver(whatsapp_app, _whatsapp_image(sha256=None))
    attachment = _only_attachment(message)
    meta.route(GRAPH_PATH, _graph_answer(meta, PHOTO, size=100 * 1024 * 1024))

    assert _download(attachment) == "failed:too_large"
    assert meta.paths_requested() == [GRAPH_PATH]


@pytest.mark.django_db
def test_a_url_off_the_allowed_hosts_is_never_requested(meta: LocalServer, messenger_app: MetaApp) -> None:
    message = _deliver(messenger_app, _messenger_attachments(["https://internal.example/secret.png"]))
    attachment = _only_attachment(message)

    assert _download(attachment) == "failed:host_not_allowed"
    assert meta.requests == []


@pytest.mark.django_db
def test_a_redirect_is_followed_only_onto_allowed_hosts(meta: LocalServer, messenger_app: MetaApp) -> None:
    meta.route("/cdn/a", Reply(status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}))
    message = _deliver(messenger_app, _messenger_attachments([meta.url("/cdn/a")]))
    attachment = _only_attachment(message)

    assert _download(attachment) == "failed:host_not_allowed"
    assert meta.paths_requested() == ["/cdn/a"]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1", True),
        ("https://scontent.xx.fbcdn.net/v/t1/x.jpg", True),
        ("https://scontent.cdninstagram.com/x.mp4", True),
        ("https://fbcdn.net/x", True),
        ("http://scontent.xx.fbcdn.net/x.jpg", False),  # https only
        ("https://scontent.xx.fbcdn.net:8443/x.jpg", False),
        ("https://evilfbcdn.net/x.jpg", False),
        ("https://fbcdn.net.evil.example/x.jpg", False),
        ("https://user@scontent.xx.fbcdn.net/x.jpg", False),
        ("http://127.0.0.1/x", False),
        ("https://graph.facebook.com/v25.0/1", True),
    ],
)
def test_the_allow_list_takes_https_meta_hosts_only(url: str, allowed: bool) -> None:
    assert media_url_allowed(url) is allowed


# --- idempotency ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_stored_attachment_is_not_downloaded_again(meta: LocalServer, whatsapp_app: MetaApp) -> None:
    message = _deliver(whatsapp_app, _whatsapp_image(sha256=_sha256_b64(PHOTO)))
    attachment = _only_attachment(message)
    meta.route(GRAPH_PATH, _graph_answer(meta, PHOTO))
    meta.route(FILE_PATH, Reply(body=PHOTO))
    assert _download(attachment) == "stored"
    name = attachment.storage_name

    assert _download(attachment) == "not_pending"

    assert (attachment.attempts, attachment.storage_name) == (1, name)
    assert len(meta.requests) == 2


@pytest.mark.django_db
def test_a_second_worker_leaves_an_attachment_another_one_is_fetching(meta: LocalServer, whatsapp_app: MetaApp) -> None:
    message = _deliver(whatsapp_app, _whatsapp_image(sha256=_sha256_b64(PHOTO)))
    attachment = _only_attachment(message)

    with held_lock(f"media:{attachment.pk}", ttl_seconds=60) as acquired:
        assert acquired
        assert media_attachment_download(attachment_id=attachment.pk, is_last_attempt=True) == "busy"

    attachment.refresh_from_db()
    assert (attachment.status, attachment.attempts) == (MediaStatus.PENDING, 0)
    assert meta.requests == []


@pytest.mark.django_db
def test_a_storage_that_cannot_write_is_retried_then_failed(
    meta: LocalServer, whatsapp_app: MetaApp, settings: Settings, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the media folder should be")
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": blocker}},
    }
    message = _deliver(whatsapp_app, _whatsapp_image(sha256=_sha256_b64(PHOTO)))
    attachment = _only_attachment(message)
    meta.route(GRAPH_PATH, _graph_answer(meta, PHOTO))
    meta.route(FILE_PATH, Reply(body=PHOTO))

    assert _download(attachment) == "failed:storage_failed"
    assert (attachment.status, attachment.attempts) == (MediaStatus.FAILED, 5)


# --- admin ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_message_admin_lists_attachments_without_their_source(
    operator_client: Client, whatsapp_app: MetaApp
) -> None:
    message = _deliver(whatsapp_app, _whatsapp_image(sha256=_sha256_b64(PHOTO)))
    MediaAttachment.objects.filter(message=message).update(last_error_code="graph_http_404", attempts=2)

    page = operator_client.get(reverse("admin:messaging_message_change", args=[message.pk])).content.decode()

    assert "graph_http_404" in page and "image/jpeg" in page and "Pending" in page
    assert MEDIA_ID not in page and _sha256_b64(PHOTO) not in page
    assert 'name="attachments-0-status"' not in page and 'name="attachments-0-DELETE"' not in page  # read-only


# --- API -----------------------------------------------------------------------------------------


def _api(tenant: Tenant) -> APIClient:
    issued = api_key_issue(tenant=tenant, name="reader", scopes=[ApiScope.MESSAGES_READ], actor_label="test")
    client = APIClient(REMOTE_ADDR="203.0.113.9")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client


def _media_url(attachment: MediaAttachment) -> str:
    return f"/api/v1/messages/{attachment.message_id}/media/{attachment.pk}/"


@pytest.mark.django_db
def test_the_api_serves_stored_bytes_to_the_tenant_only(
    meta: LocalServer, whatsapp_app: MetaApp, tenant_b: Tenant
) -> None:
    message = _deliver(whatsapp_app, _whatsapp_image(sha256=_sha256_b64(PHOTO)))
    attachment = _only_attachment(message)
    meta.route(GRAPH_PATH, _graph_answer(meta, PHOTO))
    meta.route(FILE_PATH, Reply(body=PHOTO))
    _download(attachment)
    assert whatsapp_app.tenant is not None
    client_a = _api(whatsapp_app.tenant)

    response = client_a.get(_media_url(attachment))

    assert response.status_code == 200
    assert response.content == PHOTO
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Disposition"] == f'attachment; filename="{attachment.pk}.jpg"'
    assert (response["X-Content-Type-Options"], response["Cache-Control"]) == ("nosniff", "no-store")
    detail = client_a.get(f"/api/v1/messages/{message.pk}/").json()
    assert detail["attachments"] == [
        {"id": str(attachment.pk), "status": "stored", "mime_type": "image/jpeg", "size": len(PHOTO)}
    ]

    other = _api(tenant_b).get(_media_url(attachment))
    assert (other.status_code, other.json()) == (404, NOT_FOUND)
    wrong_message = client_a.get(f"/api/v1/messages/{attachment.pk}/media/{attachment.pk}/")
    assert wrong_message.status_code == 404


@pytest.mark.django_db
def test_the_api_answers_409_for_pending_and_failed_and_404_when_the_file_is_gone(
    meta: LocalServer, whatsapp_app: MetaApp
) -> None:
    message = _deliver(whatsapp_app, _whatsapp_image(sha256=_sha256_b64(PHOTO)))
    attachment = _only_attachment(message)
    assert whatsapp_app.tenant is not None
    client = _api(whatsapp_app.tenant)

    pending = client.get(_media_url(attachment))
    assert (pending.status_code, pending.json()["code"]) == (409, "media_pending")

    MediaAttachment.objects.filter(pk=attachment.pk).update(status=MediaStatus.FAILED, last_error_code="http_404")
    failed = client.get(_media_url(attachment))
    assert (failed.status_code, failed.json()["code"]) == (409, "media_failed")

    MediaAttachment.objects.filter(pk=attachment.pk).update(
        status=MediaStatus.STORED, storage_name="nowhere.sealed", stored_at=timezone.now()
    )
    gone = client.get(_media_url(attachment))
    assert (gone.status_code, gone.json()["code"]) == (404, "media_unavailable")


# --- end to end ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_webhook_image_is_stored_by_a_real_media_worker(
    meta: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_GRAPH_BASE_URL", meta.base_url)
    monkeypatch.setenv("GATEWAY_GRAPH_API_VERSION", "v25.0")
    monkeypatch.setenv("GATEWAY_MEDIA_ROOT", str(tmp_path))
    tenant = Tenant.objects.create(name="Media", slug="media")
    app = _app(tenant)
    _channel(app, "whatsapp", "106540352242922")
    meta.route(GRAPH_PATH, _graph_answer(meta, PHOTO))
    meta.route(FILE_PATH, Reply(body=PHOTO, headers={"Content-Type": "image/jpeg"}))
    body = json.dumps(_whatsapp_image(sha256=_sha256_b64(PHOTO))).encode()

    with worker_process("ingest", "media") as worker:
        response = Client().post(
            f"/webhooks/meta/{app.app_key}/",
            body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=signature_for(SECRET, body),
        )
        assert response.status_code == 200
        is_stored = wait_for(lambda: MediaAttachment.objects.filter(status=MediaStatus.STORED).exists())
        assert is_stored, worker.log()

    attachment = MediaAttachment.objects.get()
    assert media_attachment_read(attachment=attachment) == PHOTO
    assert meta.paths_requested() == [GRAPH_PATH, FILE_PATH]
    assert MARKER not in (tmp_path / attachment.storage_name).read_bytes()


@pytest.mark.django_db(transaction=True)
def test_an_instagram_unsend_takes_the_attachment_and_its_file_back(
    meta: LocalServer, tenant_a: Tenant, tmp_path: Path
) -> None:
    app = _app(tenant_a)
    _channel(app, "instagram", "1234567890")
    meta.route("/cdn/photo.jpg", Reply(body=b"\xff\xd8" + MARKER * 20, headers={"Content-Type": "image/jpeg"}))
    message = _deliver(app, _messenger_attachments([meta.url("/cdn/photo.jpg")], fixture="instagram_text.json"))
    attachment = _only_attachment(message)
    assert _download(attachment) == "stored"
    stored_file = tmp_path / attachment.storage_name
    assert stored_file.exists()

    body = json.dumps(_fixture("instagram_unsent_deleted.json")).encode()
    signed = signature_for(SECRET, body)
    assert (
        Client()
        .post(f"/webhooks/meta/{app.app_key}/", body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=signed)
        .status_code
        == 200
    )
    delivery = Delivery.objects.order_by("-received_at").first()
    assert delivery is not None
    delivery_process(delivery_id=delivery.pk)

    message.refresh_from_db()
    assert message.content is None
    assert not MediaAttachment.objects.filter(pk=attachment.pk).exists()
    assert not stored_file.exists()


# --- batched first attempts and the sweep of lost publishes ---------------------------------------------------


@pytest.mark.django_db
def test_a_batch_stores_what_it_can_and_hands_a_retry_on_with_the_attempts_it_has_left(
    meta: LocalServer, messenger_app: MetaApp
) -> None:
    clip = b"RIFF" + MARKER * 50
    meta.route("/cdn/ok.mp4?oh=1", Reply(body=clip))
    meta.route("/cdn/busy.mp4?oh=1", Reply(status=503))
    urls = [meta.url("/cdn/ok.mp4?oh=1"), meta.url("/cdn/busy.mp4?oh=1")]
    message = _deliver(messenger_app, _messenger_attachments(urls))
    first, second = MediaAttachment.objects.filter(message=message).order_by("position")

    outcomes = media_download_batch_task.apply(args=([str(first.pk), str(second.pk)],)).get()

    assert outcomes == {"stored": 1, "retry_later": 1}
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status, second.attempts, second.last_error_code) == (
        MediaStatus.STORED,
        MediaStatus.PENDING,
        1,
        "download_http_503",
    )


@pytest.mark.django_db
def test_a_batch_makes_the_last_attempt_final_and_skips_what_is_no_longer_pending(
    meta: LocalServer, messenger_app: MetaApp
) -> None:
    meta.route("/cdn/busy.mp4?oh=1", Reply(status=503))
    message = _deliver(messenger_app, _messenger_attachments([meta.url("/cdn/busy.mp4?oh=1")] * 2))
    last_chance, done = MediaAttachment.objects.filter(message=message).order_by("position")
    MediaAttachment.objects.filter(pk=last_chance.pk).update(attempts=MAX_ATTEMPTS - 1)
    MediaAttachment.objects.filter(pk=done.pk).update(status=MediaStatus.FAILED)

    outcomes = media_download_batch_task.apply(args=([str(last_chance.pk), str(done.pk)],)).get()

    assert outcomes == {"failed:download_http_503": 1}
    last_chance.refresh_from_db()
    assert (last_chance.status, last_chance.attempts) == (MediaStatus.FAILED, MAX_ATTEMPTS)


@pytest.mark.django_db
def test_the_sweep_publishes_only_attachments_pending_long_after_every_retry(messenger_app: MetaApp) -> None:
    message = _deliver(messenger_app, _messenger_attachments([f"https://cdn.fbsbx.com/{n}.jpg" for n in range(4)]))
    stale, exhausted, stored, recent = MediaAttachment.objects.filter(message=message).order_by("position")
    long_ago = timezone.now() - timedelta(hours=1)
    MediaAttachment.objects.filter(pk__in=[stale.pk, exhausted.pk, stored.pk]).update(created_at=long_ago)
    MediaAttachment.objects.filter(pk=exhausted.pk).update(attempts=MAX_ATTEMPTS)
    MediaAttachment.objects.filter(pk=stored.pk).update(status=MediaStatus.STORED)
    assert media_pending_requeue(now=timezone.now()) == [stale.pk]
    assert recent.status == MediaStatus.PENDING
