"""System checks for models with encrypted fields (ids encryption.E001-E003)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig, apps
from django.core import checks
from django.core.checks import CheckMessage, Error
from django.db.models import Model

from encryption.fields import EncryptedField
from encryption.models import Purpose
from encryption.querysets import EncryptedQuerySet, encrypted_fields


@checks.register(checks.Tags.models)
def encrypted_models(app_configs: Sequence[AppConfig] | None, **_: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for model in apps.get_models():
        fields = encrypted_fields(model)
        if not fields:
            continue
        label = model._meta.label
        managers = (model._default_manager, model._base_manager)
        if not all(isinstance(manager.get_queryset(), EncryptedQuerySet) for manager in managers):
            messages.append(
                Error(
                    f"{label} has encrypted fields but its default or base manager does not use EncryptedQuerySet.",
                    hint='objects = EncryptedManager(), and Meta.base_manager_name = "objects"',
                    id="encryption.E001",
                )
            )
        names = {field.name for field in fields}
        ordered = [name for name in model._meta.ordering or [] if isinstance(name, str) and name.lstrip("-") in names]
        if ordered:
            messages.append(Error(f"{label} orders by encrypted field(s) {ordered}.", id="encryption.E002"))
        messages += _context_fields_come_first(model, fields)
        unknown = [field.name for field in fields if field.purpose not in Purpose.values]
        if unknown:
            messages.append(
                Error(f"{label} has encrypted field(s) {unknown} without a known purpose.", id="encryption.E003")
            )
    return messages


def _context_fields_come_first(model: type[Model], fields: list[EncryptedField]) -> list[CheckMessage]:
    """The tenant and row-id columns must be set before an encrypted column when a row is loaded."""
    order = {field.attname: index for index, field in enumerate(model._meta.concrete_fields)}
    late = [
        field.name
        for field in fields
        for context in (field.tenant_attribute, field.row_field.attname)
        if context in order and order[context] > order[field.attname]
    ]
    if not late:
        return []
    return [
        Error(
            f"{model._meta.label}: declare the tenant and row-id fields before encrypted field(s) {late}.",
            id="encryption.E004",
        )
    ]
