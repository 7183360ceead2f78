"""The account webhooks that change a template: its status, quality or category."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from messaging.providers.templates import TemplateStatus
from messaging.providers.whatsapp.templates.graph import reason_known

STATUS_EVENTS = frozenset(TemplateStatus.values) - {TemplateStatus.UNKNOWN.value}
TEMPLATE_FIELDS = frozenset(
    {"message_template_status_update", "message_template_quality_update", "template_category_update"}
)


@dataclass(frozen=True, kw_only=True)
class TemplateChange:
    """What an account webhook says changed about one template; None fields did not change."""

    template_id: str
    name: str
    language: str
    status: str | None = None
    reason: str | None = None
    quality_score: str | None = None
    category: str | None = None


def template_change(field: str, value: Any) -> TemplateChange | None:
    """The change a ``message_template_status_update``, ``message_template_quality_update`` or
    ``template_category_update`` value describes; None for another field or a value without its template."""
    if field not in TEMPLATE_FIELDS or not isinstance(value, dict):
        return None
    template_id, name = value.get("message_template_id"), value.get("message_template_name")
    language = value.get("message_template_language")
    if template_id is None or not isinstance(name, str) or not isinstance(language, str):
        return None
    facts: dict[str, Any] = {"template_id": str(template_id), "name": name, "language": language}
    if field == "message_template_status_update":
        return _status_change(facts, value)
    if field == "message_template_quality_update":
        return TemplateChange(**facts, quality_score=str(value.get("new_quality_score") or "UNKNOWN"))
    # Completed changes carry previous_category; impending ones the current category (new_category) and the one
    # it will become (correct_category) when Meta changes it, announced then by another update.
    category = value.get("new_category")
    return TemplateChange(**facts, category=str(category)) if isinstance(category, str) and category else None


def _status_change(facts: dict[str, Any], value: dict[str, Any]) -> TemplateChange:
    """An event that names a status sets it; others (UNARCHIVED, LOCKED, UNLOCKED…) leave it to the next sync."""
    event = str(value.get("event") or "").upper()
    reason = value.get("reason")
    category = value.get("message_template_category")
    return TemplateChange(
        **facts,
        status=event if event in STATUS_EVENTS else None,
        reason=reason_known(reason) or None,
        category=str(category) if isinstance(category, str) and category else None,
    )
