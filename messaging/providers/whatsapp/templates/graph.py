"""Graph's ``/<waba_id>/message_templates``: the list query and pages, the create body and answer, the delete
query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from messaging.providers.templates import ParameterFormat, TemplateStatus
from messaging.providers.whatsapp.templates.definitions import TemplateDefinition

PATH_SUFFIX = "message_templates"
LIST_FIELDS = "id,name,language,category,status,quality_score,components,parameter_format,rejected_reason"
LIST_PAGE_SIZE = 100


@dataclass(frozen=True, kw_only=True)
class GraphTemplate:
    """One template as Graph lists it."""

    template_id: str
    name: str
    language: str
    category: str
    status: str
    quality_score: str
    parameter_format: str
    components: list[dict[str, Any]]
    rejected_reason: str


def templates_list_query(after: str | None) -> dict[str, str]:
    query = {"fields": LIST_FIELDS, "limit": str(LIST_PAGE_SIZE)}
    if after:
        query["after"] = after
    return query


def templates_page(document: Any) -> tuple[list[GraphTemplate], str | None]:
    """The templates of one list page and the cursor of the next (None on the last); a broken entry is skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise ValueError("not a template list page")  # noqa: TRY004 - callers catch one error for a bad answer
    templates = [template for item in document["data"] if (template := graph_template(item)) is not None]
    paging = document.get("paging")
    after = None
    if isinstance(paging, dict) and paging.get("next") and isinstance(paging.get("cursors"), dict):
        cursor = paging["cursors"].get("after")
        after = cursor if isinstance(cursor, str) and cursor else None
    return templates, after


def graph_template(item: Any) -> GraphTemplate | None:
    if not isinstance(item, dict):
        return None
    name, language, template_id = item.get("name"), item.get("language"), item.get("id")
    if not isinstance(name, str) or not isinstance(language, str) or template_id is None:
        return None
    components = item.get("components")
    quality = item.get("quality_score")
    return GraphTemplate(
        template_id=str(template_id),
        name=name,
        language=language,
        category=str(item.get("category") or ""),
        status=status_known(item.get("status")),
        quality_score=str(quality.get("score") or "") if isinstance(quality, dict) else "",
        parameter_format=str(item.get("parameter_format") or ParameterFormat.POSITIONAL),
        components=[component for component in components if isinstance(component, dict)]
        if isinstance(components, list)
        else [],
        rejected_reason=reason_known(item.get("rejected_reason")),
    )


def reason_known(value: Any) -> str:
    """Meta's rejection reason, empty for none (Meta says ``NONE``)."""
    text = str(value or "")
    return "" if text.upper() == "NONE" else text


def status_known(value: Any) -> str:
    """Meta's status when this version knows it, else UNKNOWN (never sendable)."""
    text = str(value or "").upper()
    return text if text in TemplateStatus.values else TemplateStatus.UNKNOWN.value


def template_create_body(definition: TemplateDefinition) -> dict[str, Any]:
    """The body of ``POST /<waba_id>/message_templates``."""
    return {
        "name": definition.name,
        "language": definition.language,
        "category": definition.category,
        "parameter_format": definition.parameter_format,
        "components": definition.components,
    }


def template_created(document: Any) -> tuple[str, str, str]:
    """(id, status, category) from Graph's answer to a create."""
    if not isinstance(document, dict) or document.get("id") is None:
        raise ValueError("not a template creation answer")
    return str(document["id"]), status_known(document.get("status")), str(document.get("category") or "")


def template_delete_query(*, name: str, template_id: str) -> dict[str, str]:
    """``DELETE /<waba_id>/message_templates``: one language's template by its id (``hsm_id``) and name."""
    return {"name": name, "hsm_id": template_id}
