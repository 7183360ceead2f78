"""Legal holds: placing and releasing them (re-keying the content they cover: ``hold_rekey``; the destroy gate:
``hold_gate``).

A hold covers a whole tenant, one contact or one conversation. While it is in force the purge skips what it
covers (``policies.retention.selectors.held_message_filter``), and every content value of the messages and
media it covers (``Message.content`` and ``provider_message_id``, ``MediaAttachment.source_reference`` and
``expected_sha256``, and the sealed media file) is sealed again under a key of the hold: purpose ``content``,
scope ``hold:<hold id>`` (``messaging.models.content_day_bucket`` answers that scope for a row whose ``hold_id``
is set). The day keys can then be destroyed on schedule; the destroy gate vetoes a day key only while covered
content is still sealed under it (re-keying pending).

Releasing a hold (or its end passing) seals its content back under its day key, or under another hold in force
that covers it; once nothing is sealed under the hold's key any more, that key is scheduled for destruction and
the purge is asked to run (content that expired meanwhile goes at once).

Re-keying runs in short batches, each its own transaction, and is resumable: every batch selects what is still
left. A run stops after ``RUN_SECONDS`` and the periodic job goes on a minute later; ``rekey_pending`` stays
true until a run found nothing left.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Tenant
from audit.models import AuditAction
from audit.services import audit_record
from core.tasks import enqueue_by_name_on_commit
from messaging.models import Contact, Conversation, Message
from policies.models import LegalHold
from policies.retention.selectors import active_holds

# Published by name once the hold's change commits; a publish lost to a broker outage is not lost work: the
# periodic job (legal_holds_maintain) re-keys every hold marked rekey_pending, and the purge runs every minute.
REKEY_TASK = "maintenance.legal_hold_rekey"
CASE_REFERENCE_MAX = 200
REASON_MAX = 2000
ENDED_ACTOR = Actor(label="system: hold ended")


class LegalHoldError(ValueError):
    """A hold that cannot be placed or released as asked; the message says why."""


def hold_scope_label(hold: LegalHold) -> str:
    if hold.contact_id is not None:
        return "contact"
    return "conversation" if hold.conversation_id is not None else "tenant"


def hold_covers(hold: LegalHold, message: Message) -> bool:
    """Whether ``hold`` (in force) covers ``message``: the tenant, its contact or its conversation."""
    if hold.tenant_id != message.tenant_id:
        return False
    if hold.contact_id is not None:
        return hold.contact_id == message.contact_id
    return hold.conversation_id is None or hold.conversation_id == message.conversation_id


def hold_scope_filter(hold: LegalHold) -> Q:
    """Messages in this one hold's scope (``held_message_filter`` answers "covered by any hold in force")."""
    scope = Q(tenant_id=hold.tenant_id)
    if hold.contact_id is not None:
        scope &= Q(contact_id=hold.contact_id)
    if hold.conversation_id is not None:
        scope &= Q(conversation_id=hold.conversation_id)
    return scope


# --- placing and releasing ----------------------------------------------------------------------------------


def legal_hold_place(
    *,
    tenant: Tenant,
    case_reference: str,
    reason: str,
    actor: Actor,
    contact: Contact | None = None,
    conversation: Conversation | None = None,
    ends_at: datetime | None = None,
    now: datetime | None = None,
) -> LegalHold:
    """Place a hold (the admin asks for a fresh step-up first); re-keying starts once it is committed."""
    now = now or timezone.now()
    case_reference, reason = case_reference.strip(), reason.strip()
    _hold_check(
        tenant=tenant,
        contact=contact,
        conversation=conversation,
        case_reference=case_reference,
        reason=reason,
        ends_at=ends_at,
        now=now,
    )
    with transaction.atomic():
        hold = LegalHold.objects.create(
            tenant=tenant,
            contact=contact,
            conversation=conversation,
            case_reference=case_reference,
            reason=reason,
            ends_at=ends_at,
            placed_by=actor.label[:200],
            rekey_pending=True,
        )
        hold_audit(AuditAction.LEGAL_HOLD_PLACED, hold, actor, ends_at=ends_at.isoformat() if ends_at else None)
        enqueue_by_name_on_commit(REKEY_TASK, hold.pk)
    return hold


def _hold_check(
    *,
    tenant: Tenant,
    contact: Contact | None,
    conversation: Conversation | None,
    case_reference: str,
    reason: str,
    ends_at: datetime | None,
    now: datetime,
) -> None:
    if contact is not None and conversation is not None:
        raise LegalHoldError("A hold covers the whole tenant, one contact or one conversation: not both.")
    if contact is not None and contact.tenant_id != tenant.pk:
        raise LegalHoldError("This contact belongs to another tenant.")
    if conversation is not None and conversation.tenant_id != tenant.pk:
        raise LegalHoldError("This conversation belongs to another tenant.")
    if not case_reference or len(case_reference) > CASE_REFERENCE_MAX:
        raise LegalHoldError(f"The case reference is required, at most {CASE_REFERENCE_MAX} characters.")
    if not reason or len(reason) > REASON_MAX:
        raise LegalHoldError(f"The reason is required, at most {REASON_MAX} characters.")
    if ends_at is not None and ends_at <= now:
        raise LegalHoldError("The end must be in the future (or empty: the hold lasts until it is released).")


def legal_hold_release(*, hold: LegalHold, actor: Actor, now: datetime | None = None) -> LegalHold:
    """Release a hold: its content goes back to its day keys (re-keyed in the background), then to normal expiry."""
    now = now or timezone.now()
    with transaction.atomic():
        released = LegalHold.objects.filter(pk=hold.pk, released_at__isnull=True).update(
            released_at=now, released_by=actor.label[:200], rekey_pending=True, updated_at=now
        )
        if not released:
            raise LegalHoldError("This hold was already released.")
        hold.refresh_from_db()
        hold_audit(AuditAction.LEGAL_HOLD_RELEASED, hold, actor, ended=actor is ENDED_ACTOR)
        enqueue_by_name_on_commit(REKEY_TASK, hold.pk)
    return hold


def hold_audit(action: str, hold: LegalHold, actor: Actor, **details: str | int | bool | None) -> None:
    """Ids and the scope only: the case reference and the reason are free text, kept on the hold row."""
    audit_record(
        action=action,
        tenant_id=hold.tenant_id,
        actor_id=actor.user_id,
        actor_label=actor.label,
        ip=actor.ip,
        target_type="legal_hold",
        target_id=str(hold.pk),
        details={
            "scope": hold_scope_label(hold),
            "contact_id": str(hold.contact_id) if hold.contact_id else None,
            "conversation_id": str(hold.conversation_id) if hold.conversation_id else None,
            **details,
        },
    )


def contact_holds(*, tenant_id: uuid.UUID, contact_id: uuid.UUID, now: datetime) -> QuerySet[LegalHold]:
    """Holds in force that cover a contact as a whole (its erasure): the tenant's, the contact's, or one on any of
    its conversations (a contact with no message yet is covered too, unlike ``held_message_filter``)."""
    conversations = Conversation.objects.filter(tenant_id=tenant_id, contact_id=contact_id).values("pk")
    scope = Q(contact__isnull=True, conversation__isnull=True) | Q(contact_id=contact_id)
    scope |= Q(conversation_id__in=conversations)
    return LegalHold.objects.filter(active_holds(now=now), scope, tenant_id=tenant_id).order_by("created_at")
