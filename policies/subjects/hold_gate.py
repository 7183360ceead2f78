"""The legal holds' destroy gate: a day key stays while content that a hold in force covers is still sealed under
it (its re-keying is pending), and a tenant-wide hold keeps its tenant's raw day keys."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from django.db import models
from django.utils import timezone

from core.raw_ledgers import raw_ledgers
from encryption.models import OPERATOR, DataKey, Purpose
from encryption.services import KeyedColumn
from messaging.models import MediaAttachment, Message, QuarantinedItem
from policies.models import LegalHold
from policies.retention.selectors import active_holds, held_message_filter, held_tenant_filter
from policies.subjects.hold_rekey import ATTACHMENT_FIELDS, MESSAGE_FIELDS


def hold_destroy_gate(key: DataKey) -> str | None:
    """Registered in ``PoliciesConfig.ready``: vetoes destroying a content (or raw) day key while content that a
    hold in force covers is still sealed under it, i.e. its re-keying is pending. No side effects."""
    if key.owner == OPERATOR or key.purpose not in (Purpose.CONTENT, Purpose.RAW) or not _is_day(key.scope):
        return None
    tenant_id = uuid.UUID(key.owner)
    now = timezone.now()
    if not LegalHold.objects.filter(active_holds(now=now), tenant_id=tenant_id).exists():
        return None
    if key.purpose == Purpose.RAW:
        return _raw_held_under(key, tenant_id, now)
    if _content_held_under(key, tenant_id, now):
        return "content that a legal hold covers is still sealed under it (re-keying under the hold is pending)"
    return None


def _content_held_under(key: DataKey, tenant_id: uuid.UUID, now: datetime) -> bool:
    for model, names, prefix in ((Message, MESSAGE_FIELDS, ""), (MediaAttachment, ATTACHMENT_FIELDS, "message__")):
        held = held_message_filter(now=now, prefix=prefix)
        for name in names:
            rows = _column(model, name).rows_under([key.pk]).filter(held, tenant_id=tenant_id, hold_id__isnull=True)
            if rows.exists():
                return True
    files = MediaAttachment.objects.filter(tenant_id=tenant_id, storage_name__startswith=f"{tenant_id}/{key.scope}/")
    return files.filter(held_message_filter(now=now, prefix="message__")).exists()


def _raw_held_under(key: DataKey, tenant_id: uuid.UUID, now: datetime) -> str | None:
    """Raw bodies are not re-keyed: a tenant-wide hold keeps its tenant's raw day keys until it is released."""
    held = held_tenant_filter(now=now)
    columns = [(ledger.model, ledger.body_field) for ledger in raw_ledgers()]
    columns.append((QuarantinedItem, "payload"))
    for model, name in columns:
        if _column(model, name).rows_under([key.pk]).filter(held, tenant_id=tenant_id).exists():
            return "raw deliveries of a tenant under a tenant-wide legal hold are sealed under it"
    return None


def _column(model: type[models.Model], name: str) -> KeyedColumn:
    return KeyedColumn(model, model._meta.get_field(name))  # type: ignore[arg-type]


def _is_day(scope: str) -> bool:
    try:
        date.fromisoformat(scope)
    except ValueError:
        return False
    return True
