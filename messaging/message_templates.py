"""WhatsApp message templates: synced from Graph per WhatsApp Business Account, created and deleted there,
changed by account webhooks, and looked up for a template send.

A tenant's WhatsApp channels with the same ``waba_id`` share its templates; Graph is called with the token of
one of them (``/<waba_id>/message_templates``). Rows are only written from what Meta said: a create stores
Graph's answer (usually PENDING), and the review's outcome arrives by webhook
(``templates_apply_account_event``) or by the periodic sync (``templates_sync_all``). Logs and errors carry
ids, names and Meta's error codes, never a template's text.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Tenant
from audit.models import AuditAction
from audit.services import audit_record
from core.http import HttpError, HttpResponse, http_delete, http_get, http_post_json
from messaging.errors import MessagingError
from messaging.models import Channel, MessageTemplate, Platform
from messaging.providers.graph_answer import graph_answer_read
from messaging.providers.templates import TemplateFacts, TemplateReference, TemplateStatus
from messaging.providers.whatsapp.templates import changes as template_changes
from messaging.providers.whatsapp.templates import definitions as template_definitions
from messaging.providers.whatsapp.templates import graph as template_graph
from messaging.providers.whatsapp.templates.definitions import TemplateDefinition
from messaging.providers.whatsapp.templates.graph import GraphTemplate

logger = logging.getLogger(__name__)

MAX_PAGES = 100  # 10,000 templates: far over Meta's per-account limit; a cursor loop stops here


class TemplateGraphError(MessagingError):
    """Graph did not do what was asked; the message names the call and Meta's error code, never its text."""

    def __init__(self, what: str, *, http_status: int | None = None, code: int | None = None) -> None:
        detail = f"Meta refused to {what}" if http_status is not None else f"Meta could not be reached to {what}"
        if http_status is not None:
            detail += f" (HTTP {http_status}" + (f", error code {code})" if code is not None else ")")
        super().__init__(detail)
        self.http_status = http_status
        self.code = code


class TemplateDefinitionError(MessagingError):
    """A definition refused before Graph is called; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SyncResult:
    waba_id: str
    created: int
    updated: int
    removed: int

    @property
    def total(self) -> int:
        return self.created + self.updated


# --- Reading -------------------------------------------------------------------------------------


def template_list(
    *, tenant: Tenant, waba_id: str | None = None, status: str | None = None
) -> QuerySet[MessageTemplate]:
    rows = MessageTemplate.objects.filter(tenant=tenant)
    if waba_id:
        rows = rows.filter(waba_id=waba_id)
    if status:
        rows = rows.filter(status=status)
    return rows


def template_get(*, tenant: Tenant, template_id: Any) -> MessageTemplate:
    """Raises ``MessageTemplate.DoesNotExist`` for another tenant's or an unknown id."""
    return MessageTemplate.objects.get(tenant=tenant, pk=template_id)


def template_facts(*, tenant_id: Any, waba_id: str, reference: TemplateReference) -> TemplateFacts | None:
    """The stored template a send names, or None when this account has no such template in that language."""
    row = (
        MessageTemplate.objects.filter(
            tenant_id=tenant_id, waba_id=waba_id, name=reference.name, language=reference.language
        )
        .only("name", "language", "status", "parameter_format", "components")
        .first()
    )
    if row is None:
        return None
    return TemplateFacts(
        name=row.name,
        language=row.language,
        status=row.status,
        parameter_format=row.parameter_format,
        components=list(row.components),
    )


def template_accounts() -> list[tuple[Tenant, str]]:
    """Every (tenant, WhatsApp Business Account) that has a WhatsApp channel: what the periodic sync walks."""
    pairs = (
        Channel.objects.filter(platform=Platform.WHATSAPP)
        .exclude(waba_id="")
        .values_list("tenant_id", "waba_id")
        .distinct()
        .order_by("tenant_id", "waba_id")
    )
    tenants = Tenant.objects.in_bulk({tenant_id for tenant_id, _ in pairs})
    return [(tenants[tenant_id], waba_id) for tenant_id, waba_id in pairs]


# --- Graph ---------------------------------------------------------------------------------------


def _account_channel(tenant: Tenant, waba_id: str) -> Channel:
    """A channel of the tenant on that account, whose token calls Graph for it (the active one first)."""
    channel: Channel | None = (
        Channel.objects.filter(tenant=tenant, platform=Platform.WHATSAPP, waba_id=waba_id)
        .order_by("status", "created_at")
        .first()
    )
    if channel is None:
        raise MessagingError(f"no WhatsApp channel of this tenant is on the WhatsApp Business Account {waba_id}")
    return channel


def _templates_url(waba_id: str, query: dict[str, str] | None = None) -> str:
    base = f"{settings.GATEWAY_GRAPH_BASE_URL}/{settings.GATEWAY_GRAPH_API_VERSION}/{quote(waba_id, safe='')}"
    url = f"{base}/{template_graph.PATH_SUFFIX}"
    return f"{url}?{urlencode(query)}" if query else url


def _bearer(channel: Channel) -> dict[str, str]:
    return {"Authorization": f"Bearer {channel.access_token}"}


def _graph_call(what: str, call: Callable[[], HttpResponse]) -> Any:
    """Graph's JSON answer to a call that succeeded; ``TemplateGraphError`` otherwise."""
    try:
        response = call()
    except HttpError:
        raise TemplateGraphError(what) from None
    if not response.is_success:
        answer = graph_answer_read(response)
        raise TemplateGraphError(what, http_status=response.status, code=answer.error_code)
    try:
        return response.json()
    except ValueError:
        raise TemplateGraphError(what, http_status=response.status) from None


def graph_templates(*, channel: Channel, waba_id: str) -> list[GraphTemplate]:
    """Every template of the account, following Graph's cursors."""
    headers = _bearer(channel)
    found: list[GraphTemplate] = []
    after: str | None = None
    for _ in range(MAX_PAGES):
        url = _templates_url(waba_id, template_graph.templates_list_query(after))
        document = _graph_call("list the templates", functools.partial(http_get, url, headers=headers))
        try:
            page, after = template_graph.templates_page(document)
        except ValueError:
            raise TemplateGraphError("list the templates (an answer of another shape)") from None
        found.extend(page)
        if after is None:
            return found
    # A partial list must not pass for the whole one: the sync would remove what it did not reach.
    raise TemplateGraphError(f"list the templates (more than {MAX_PAGES} pages)")


# --- Sync ----------------------------------------------------------------------------------------


def templates_sync(*, tenant: Tenant, waba_id: str, actor: Actor | None = None) -> SyncResult:
    """Make the account's rows what Graph lists: new ones created, known ones updated, the rest removed (deleted
    at Meta). With an ``actor`` (a person asked for it) the sync is audited; the periodic one is not."""
    channel = _account_channel(tenant, waba_id)
    listed = graph_templates(channel=channel, waba_id=waba_id)
    now = timezone.now()
    created = updated = 0
    with transaction.atomic():
        existing = {
            (row.name, row.language): row
            for row in MessageTemplate.objects.select_for_update().filter(tenant=tenant, waba_id=waba_id)
        }
        for template in listed:
            fields = _fields_of(template)
            row = existing.pop((template.name, template.language), None)
            if row is None:
                MessageTemplate.objects.create(
                    tenant=tenant,
                    waba_id=waba_id,
                    name=template.name,
                    language=template.language,
                    synced_at=now,
                    **fields,
                )
                created += 1
            else:
                for name, value in fields.items():
                    setattr(row, name, value)
                row.synced_at = now
                row.save(update_fields=[*fields, "synced_at", "updated_at"])
                updated += 1
        removed = MessageTemplate.objects.filter(pk__in=[row.pk for row in existing.values()]).delete()[0]
        result = SyncResult(waba_id=waba_id, created=created, updated=updated, removed=removed)
        if actor is not None:
            _audit(AuditAction.TEMPLATES_SYNCED, actor=actor, tenant=tenant, target_id=waba_id, **_counts(result))
    counts = {f"templates_{name}": count for name, count in _counts(result).items()}
    logger.info("templates synced", extra={"tenant_id": str(tenant.pk), "waba_id": waba_id, **counts})
    return result


def _counts(result: SyncResult) -> dict[str, int]:
    return {"created": result.created, "updated": result.updated, "removed": result.removed}


def _fields_of(template: GraphTemplate) -> dict[str, Any]:
    return {
        "provider_template_id": template.template_id,
        "category": template.category,
        "status": template.status,
        "quality_score": template.quality_score,
        "parameter_format": template.parameter_format,
        "components": template.components,
        "rejected_reason": template.rejected_reason[:200],
    }


def templates_sync_all(*, progress: Callable[[str, SyncResult | MessagingError], None] | None = None) -> int:
    """Sync every account that has a WhatsApp channel; one account failing does not stop the others. Returns the
    number of accounts synced."""
    synced = 0
    for tenant, waba_id in template_accounts():
        try:
            result: SyncResult | MessagingError = templates_sync(tenant=tenant, waba_id=waba_id)
            synced += 1
        except MessagingError as error:
            logger.warning(
                "templates sync failed", extra={"tenant_id": str(tenant.pk), "waba_id": waba_id, "error": str(error)}
            )
            result = error
        if progress is not None:
            progress(f"{tenant.slug}/{waba_id}", result)
    return synced


# --- Create and delete ---------------------------------------------------------------------------


def template_create(*, tenant: Tenant, waba_id: str, definition: TemplateDefinition, actor: Actor) -> MessageTemplate:
    """Submit a template to Meta for review and store Graph's answer (usually PENDING); audited."""
    try:
        template_definitions.definition_check(definition)
    except template_definitions.TemplateDefinitionError as error:
        raise TemplateDefinitionError(error.field, str(error)) from None
    if MessageTemplate.objects.filter(
        tenant=tenant, waba_id=waba_id, name=definition.name, language=definition.language
    ).exists():
        raise TemplateDefinitionError("name", "This account already has a template of that name in that language.")
    channel = _account_channel(tenant, waba_id)
    url, body, headers = _templates_url(waba_id), template_graph.template_create_body(definition), _bearer(channel)
    answer = _graph_call("create the template", functools.partial(http_post_json, url, payload=body, headers=headers))
    try:
        template_id, status, category = template_graph.template_created(answer)
    except ValueError:
        raise TemplateGraphError("create the template (an answer of another shape)") from None
    with transaction.atomic():
        # A sync may have stored it since Meta answered, with a status newer than this answer's: it stays.
        template, _ = MessageTemplate.objects.get_or_create(
            tenant=tenant,
            waba_id=waba_id,
            name=definition.name,
            language=definition.language,
            defaults={
                "provider_template_id": template_id,
                "category": category or definition.category,
                "status": status,
                "parameter_format": definition.parameter_format,
                "components": definition.components,
            },
        )
        _audit(
            AuditAction.TEMPLATE_CREATED,
            actor=actor,
            tenant=tenant,
            target_id=str(template.pk),
            waba_id=waba_id,
            name=template.name,
            language=template.language,
            status=template.status,
        )
    logger.info("template created", extra={"template_id": str(template.pk), "waba_id": waba_id})
    return template


def template_delete(*, template: MessageTemplate, actor: Actor) -> None:
    """Delete one language's template at Meta (by its id and name), then here; audited. When Meta refuses (a
    template it no longer has among them), nothing is deleted here: the next sync removes what Meta lost."""
    if not template.provider_template_id:
        # Deleting by name alone would delete every language of it at Meta.
        raise MessagingError("this template has no Meta id yet; sync the account's templates first")
    channel = _account_channel(template.tenant, template.waba_id)
    query = template_graph.template_delete_query(name=template.name, template_id=template.provider_template_id)
    url, headers = _templates_url(template.waba_id, query), _bearer(channel)
    _graph_call("delete the template", functools.partial(http_delete, url, headers=headers))
    with transaction.atomic():
        _audit(
            AuditAction.TEMPLATE_DELETED,
            actor=actor,
            tenant=template.tenant,
            target_id=str(template.pk),
            waba_id=template.waba_id,
            name=template.name,
            language=template.language,
        )
        template.delete()
    logger.info("template deleted", extra={"waba_id": template.waba_id})


def _audit(action: str, *, actor: Actor, tenant: Tenant, target_id: str, **details: str | int) -> None:
    audit_record(
        action=action,
        tenant_id=tenant.pk,
        actor_id=actor.user_id,
        actor_label=actor.label,
        ip=actor.ip,
        target_type="message_template",
        target_id=target_id,
        details=details,
    )


# --- Account webhooks ----------------------------------------------------------------------------


def templates_apply_account_event(
    *, waba_id: str, field: str, value: dict[str, Any], tenant: Tenant | None = None
) -> int:
    """Apply one account webhook change (``message_template_status_update``, ``message_template_quality_update``,
    ``template_category_update``) to the account's rows: those of ``tenant``, or of every tenant with that
    account. Matched by Meta's template id, else by name and language. Returns the rows changed; 0 for another
    field, a value without its template, or a template not synced yet (the next sync brings it)."""
    change = template_changes.template_change(field, value)
    if change is None:
        return 0
    target = _change_targets(waba_id, change, tenant)
    fields: dict[str, Any] = {"updated_at": timezone.now()}
    if change.status is not None:
        fields["status"] = change.status
        fields["rejected_reason"] = (change.reason or "")[:200]
    if change.quality_score is not None:
        fields["quality_score"] = change.quality_score[:16]
    if change.category is not None:
        fields["category"] = change.category[:32]
    changed = target.update(**fields)
    logger.info("template account event", extra={"waba_id": waba_id, "field": field, "rows": changed})
    return changed


def template_newly_rejected(*, tenant: Tenant, waba_id: str, field: str, value: dict[str, Any]) -> str | None:
    """Meta's id of the template this account webhook rejects, when the tenant holds it and it is not rejected
    yet (so an account with several channels, or a redelivery, counts one rejection once); None otherwise."""
    change = template_changes.template_change(field, value)
    if change is None or change.status != TemplateStatus.REJECTED:
        return None
    if not _change_targets(waba_id, change, tenant).exclude(status=TemplateStatus.REJECTED).exists():
        return None
    return change.template_id


def _change_targets(
    waba_id: str, change: template_changes.TemplateChange, tenant: Tenant | None
) -> QuerySet[MessageTemplate]:
    """The rows a change is about: matched by Meta's template id, else by name and language."""
    rows = MessageTemplate.objects.filter(waba_id=waba_id)
    if tenant is not None:
        rows = rows.filter(tenant=tenant)
    by_id = rows.filter(provider_template_id=change.template_id)
    return by_id if by_id.exists() else rows.filter(name=change.name, language=change.language)
