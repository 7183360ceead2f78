"""The archive of a subject export: a zip of ``contact.json``, ``conversations.json``, ``messages.json`` (written one
message at a time) and ``media/`` (the files, opened); content past its retention is listed as expired, never
opened (``policies.subjects.export`` seals and serves it)."""

from __future__ import annotations

import json
import mimetypes
import shutil
import tempfile
import zipfile
from collections import Counter
from datetime import datetime
from typing import IO, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Prefetch

from encryption.errors import DecryptionError
from messaging.inbound.media_storage import FALLBACK_MIME_TYPE, media_attachment_is_expired, media_attachment_read
from messaging.models import (
    Contact,
    Conversation,
    MediaAttachment,
    MediaStatus,
    Message,
    MessageEdit,
    StatusEvent,
    content_is_expired,
)
from messaging.selectors import contact_open

ARCHIVE_FORMAT = "gateway-subject-export/1"
MESSAGE_CHUNK = 200
COPY_BYTES = 1024 * 1024
README = (
    "Everything this gateway holds about one contact, as of exported_at (contact.json).\n"
    "contact.json: identifiers and profile. conversations.json: the threads with the business's channels.\n"
    "messages.json: every message, oldest first, with its status history, attachments and the earlier versions\n"
    "of an edited text; content that has expired under the retention policy is listed with content_expired:\n"
    "true and no content.\n"
    "media/: the attachments' files, named by attachment id.\n"
)


def export_archive(contact: Contact, *, now: datetime, out: IO[bytes]) -> dict[str, int]:
    """Write the zip of everything held about ``contact`` as of ``now`` into ``out`` (a file open for writing:
    the archive streams to disk, it is never held in memory whole); what it counts (messages, files...)."""
    counts: Counter[str] = Counter()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        archive.writestr("README.txt", README)
        _json_write(archive, "contact.json", _contact_document(contact, now=now))
        conversations = Conversation.objects.filter(contact=contact).select_related("channel").order_by("created_at")
        _json_write(archive, "conversations.json", [_conversation_document(row) for row in conversations])
        # One zip entry is written at a time, and the media files go in while the messages are read: the messages'
        # JSON waits in a temp file on disk, then streams into its entry.
        with tempfile.TemporaryFile() as messages:
            _messages_write(contact, archive, messages, counts)
            messages.seek(0)
            with archive.open("messages.json", "w", force_zip64=True) as entry:
                shutil.copyfileobj(messages, entry, COPY_BYTES)
    return dict(counts)


def _json(value: object) -> bytes:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, indent=1).encode()


def _json_write(archive: zipfile.ZipFile, name: str, value: object) -> None:
    archive.writestr(name, _json(value))


def _contact_document(contact: Contact, *, now: datetime) -> dict[str, Any]:
    opened = contact_open(contact=contact)
    return {
        "format": ARCHIVE_FORMAT,
        "exported_at": now,
        "id": contact.pk,
        "platform": contact.platform,
        "external_id": opened.external_id,
        "business_user_id": opened.business_user_id,
        "profile": opened.profile,
        "is_opted_out": contact.is_opted_out,
        "created_at": contact.created_at,
        "unavailable": opened.is_content_unavailable,
    }


def _conversation_document(conversation: Conversation) -> dict[str, Any]:
    channel = conversation.channel
    return {
        "id": conversation.pk,
        "channel": {
            "id": channel.pk,
            "platform": channel.platform,
            "provider_id": channel.provider_id,
            "display_name": channel.display_name,
        },
        "created_at": conversation.created_at,
        "last_inbound_at": conversation.last_inbound_at,
    }


def _messages_write(contact: Contact, archive: zipfile.ZipFile, out: IO[bytes], counts: Counter[str]) -> None:
    """``messages.json`` into ``out`` (a JSON array, one message at a time), each file straight into the zip."""
    statuses = StatusEvent.objects.order_by("provider_timestamp", "id")
    attachments = MediaAttachment.objects.order_by("position")
    edits = MessageEdit.objects.order_by("number")
    messages = (
        Message.objects.filter(tenant_id=contact.tenant_id, contact_id=contact.pk)
        .order_by("provider_timestamp", "id")
        .prefetch_related(
            Prefetch("status_events", queryset=statuses),
            Prefetch("attachments", queryset=attachments),
            Prefetch("edits", queryset=edits),
        )
    )
    out.write(b"[")
    for index, message in enumerate(messages.iterator(chunk_size=MESSAGE_CHUNK)):
        document = _message_document(message, counts)
        document["attachments"] = [_attachment_write(row, archive, counts) for row in message.attachments.all()]
        out.write((b",\n" if index else b"\n") + _json(document))
        counts["messages"] += 1
    out.write(b"\n]\n")


def _opened(message: Message | MessageEdit, name: str) -> tuple[Any, bool]:
    try:
        return getattr(message, name), True
    except DecryptionError:  # its key is gone, or (ContentExpiredError) its retention ran out
        return None, False


def _message_document(message: Message, counts: Counter[str]) -> dict[str, Any]:
    expired = content_is_expired(message)
    content, is_open = (None, True) if expired else _opened(message, "content")
    provider_message_id, _ = _opened(message, "provider_message_id")
    counts["expired"] += expired
    return {
        "id": message.pk,
        "conversation": message.conversation_id,
        "channel": message.channel_id,
        "direction": message.direction,
        "type": message.message_type,
        "status": message.status,
        "provider_message_id": provider_message_id,
        "provider_timestamp": message.provider_timestamp,
        "received_at": message.received_at,
        "delivered_at": message.delivered_at,
        "read_at": message.read_at,
        "content": content,
        "content_expired": expired,
        "content_unavailable": not is_open,
        "edit_count": message.edit_count,
        "previous_versions": [] if expired else _previous_versions(message),
        "statuses": [
            {
                "status": row.status,
                "provider_timestamp": row.provider_timestamp,
                "errors": row.errors,
                "pricing": row.pricing,
            }
            for row in message.status_events.all()
        ],
    }


def _previous_versions(message: Message) -> list[dict[str, Any]]:
    """The texts an edited message had before its current one, as the messages API shows them."""
    return [
        {"number": edit.number, "text": _opened(edit, "text")[0], "at": edit.provider_timestamp}
        for edit in message.edits.all()
        if edit.number < message.edit_count
    ]


def _attachment_write(attachment: MediaAttachment, archive: zipfile.ZipFile, counts: Counter[str]) -> dict[str, Any]:
    expired = media_attachment_is_expired(attachment)
    document: dict[str, Any] = {
        "id": attachment.pk,
        "kind": attachment.kind,
        "mime_type": attachment.mime_type,
        "size": attachment.size,
        "status": attachment.status,
        "expired": expired,
        "file": None,
    }
    counts["attachments"] += 1
    if expired or attachment.status != MediaStatus.STORED:
        return document
    try:
        data = media_attachment_read(attachment=attachment)
    except (DecryptionError, OSError):
        document["unavailable"] = True
        return document
    mime_type = (attachment.mime_type or FALLBACK_MIME_TYPE).split(";")[0].strip()
    document["file"] = f"media/{attachment.pk}{mimetypes.guess_extension(mime_type) or '.bin'}"
    archive.writestr(document["file"], data)
    counts["files"] += 1
    return document
