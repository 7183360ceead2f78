"""WhatsApp message templates (Graph ``/<waba_id>/message_templates``): what a template's components ask of a
send, the checks of a template send against them, the create body, the list pages, and the account webhooks
that change a template. Pure functions: no ORM, no HTTP.

A template's variables are ``{{1}}``, ``{{2}}`` (parameter_format POSITIONAL) or ``{{first_name}}`` (NAMED). A
send gives one component per place that takes parameters: ``header`` (its text's variables, or the media of an
IMAGE / VIDEO / DOCUMENT / LOCATION header, always required), ``body`` (its variables), and ``button`` with
``index`` for a URL button whose link has a variable (one text parameter), a COPY_CODE button (a coupon code),
an OTP button (the code, as a URL button's text) and, optionally, a QUICK_REPLY button's payload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from messaging.providers.sending import SendRule, SendRuleError
from messaging.providers.templates import (
    ParameterFormat,
    TemplateCategory,
    TemplateFacts,
    TemplateReference,
    TemplateStatus,
)

PATH_SUFFIX = "message_templates"
LIST_FIELDS = "id,name,language,category,status,quality_score,components,parameter_format,rejected_reason"
LIST_PAGE_SIZE = 100
VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
NAME = re.compile(r"^[a-z0-9_]{1,512}$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Za-z]{2,4})?$")
NAMED_VARIABLE = re.compile(r"^[a-z_][a-z0-9_]*$")
MEDIA_HEADERS = {"IMAGE": "image", "VIDEO": "video", "DOCUMENT": "document", "LOCATION": "location"}
COMPONENT_TYPES = frozenset({"HEADER", "BODY", "FOOTER", "BUTTONS"})
TEXT_TYPES = frozenset({"text"})
BODY_TYPES = frozenset({"text", "currency", "date_time"})
STATUS_RULES = {
    TemplateStatus.PAUSED.value: SendRule.TEMPLATE_PAUSED,
    TemplateStatus.DISABLED.value: SendRule.TEMPLATE_DISABLED,
}
STATUS_EVENTS = frozenset(TemplateStatus.values) - {TemplateStatus.UNKNOWN.value}
TEMPLATE_FIELDS = frozenset(
    {"message_template_status_update", "message_template_quality_update", "template_category_update"}
)


# --- What a template asks of a send --------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Slot:
    """One component of a send the template takes parameters for: ``key`` is ``header``, ``body`` or
    ``button:<index>``; ``kind`` says what it takes; ``variables`` are the names or positions it must fill."""

    key: str
    kind: str  # "text", "body", "media:<image|video|document|location>", "coupon_code", "payload"
    variables: tuple[str, ...] = ()
    is_required: bool = True


def template_variables(text: str) -> tuple[str, ...]:
    """The variables of a text, each once, in order of first appearance."""
    return tuple(dict.fromkeys(VARIABLE.findall(text)))


def template_slots(components: list[dict[str, Any]]) -> dict[str, Slot]:
    """The places of a template (its stored components, as Graph lists them) that a send fills."""
    slots: dict[str, Slot] = {}
    for component in components:
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER":
            header_format = str(component.get("format", "TEXT")).upper()
            if header_format in MEDIA_HEADERS:
                slots["header"] = Slot(key="header", kind=f"media:{MEDIA_HEADERS[header_format]}")
            elif variables := template_variables(str(component.get("text", ""))):
                slots["header"] = Slot(key="header", kind="text", variables=variables)
        elif kind == "BODY" and (variables := template_variables(str(component.get("text", "")))):
            slots["body"] = Slot(key="body", kind="body", variables=variables)
        elif kind == "BUTTONS":
            for index, button in enumerate(component.get("buttons") or []):
                slot = _button_slot(button, index)
                if slot is not None:
                    slots[slot.key] = slot
    return slots


def _button_slot(button: dict[str, Any], index: int) -> Slot | None:
    key = f"button:{index}"
    button_type = str(button.get("type", "")).upper()
    if button_type == "URL" and (variables := template_variables(str(button.get("url", "")))):
        return Slot(key=key, kind="text", variables=variables)
    if button_type == "OTP":
        return Slot(key=key, kind="text", variables=("1",))
    if button_type == "COPY_CODE":
        return Slot(key=key, kind="coupon_code")
    if button_type == "QUICK_REPLY":
        return Slot(key=key, kind="payload", is_required=False)
    return None


# --- Checking a template send --------------------------------------------------------------------


def template_reference(content: dict[str, Any]) -> TemplateReference | None:
    """The template a normalised send names, or None when it is not a template send."""
    if content.get("type") != "template":
        return None
    template = content["template"]
    return TemplateReference(name=str(template["name"]), language=str(template["language"]))


def template_check(content: dict[str, Any], template: TemplateFacts) -> None:
    """Raise ``SendRuleError`` unless ``template`` is approved and the send's components fill it exactly."""
    status_check(template)
    parameters_check(content["template"].get("components") or [], template)


def status_check(template: TemplateFacts) -> None:
    if template.status == TemplateStatus.APPROVED:
        return
    where = f"{template.name} ({template.language})"
    rule = STATUS_RULES.get(template.status)
    if rule is not None:
        raise SendRuleError(rule, f"The template {where} is {template.status.lower()}; it cannot be sent now.")
    raise SendRuleError(
        SendRule.TEMPLATE_NOT_APPROVED, f"The template {where} is {template.status}, not APPROVED.", field="template"
    )


def parameters_check(send_components: list[Any], template: TemplateFacts) -> None:
    """The send's components against the template's places: none missing, none extra, each parameter fit."""
    slots = template_slots(template.components)
    given = _given_components(send_components)
    for key in given:
        if key not in slots:
            raise _mismatch(f"The template has no {_place(key)} that takes parameters.")
    is_named = template.parameter_format == ParameterFormat.NAMED
    for key, slot in slots.items():
        parameters = given.get(key)
        if parameters is None:
            if slot.kind.startswith("media:"):
                raise SendRuleError(
                    SendRule.TEMPLATE_HEADER_MEDIA_REQUIRED,
                    f"The template's header is a {slot.kind.removeprefix('media:')}: give it in a header component.",
                    field="template.components",
                )
            if slot.is_required:
                raise _mismatch(f"The template's {_place(key)} needs {len(slot.variables) or 1} parameter(s).")
            continue
        _slot_check(slot, parameters, is_named=is_named and key in {"header", "body"})


def _given_components(send_components: list[Any]) -> dict[str, list[dict[str, Any]]]:
    given: dict[str, list[dict[str, Any]]] = {}
    for component in send_components:
        if not isinstance(component, dict):
            raise _mismatch("Each component is an object.")
        kind = str(component.get("type", "")).lower()
        key = f"button:{component.get('index', '')}" if kind == "button" else kind
        parameters = component.get("parameters") or []
        if key in given:
            raise _mismatch(f"The {_place(key)} is given twice.")
        if not isinstance(parameters, list) or not all(isinstance(item, dict) for item in parameters):
            raise _mismatch(f"The {_place(key)}'s parameters are a list of objects.")
        given[key] = parameters
    return given


def _slot_check(slot: Slot, parameters: list[dict[str, Any]], *, is_named: bool) -> None:
    if slot.kind.startswith("media:"):
        media = slot.kind.removeprefix("media:")
        if len(parameters) != 1 or parameters[0].get("type") != media or not _has_media(parameters[0], media):
            raise SendRuleError(
                SendRule.TEMPLATE_HEADER_MEDIA_REQUIRED,
                f"The template's header takes one {media} parameter with its id or link.",
                field="template.components",
            )
        return
    if slot.kind in {"coupon_code", "payload"}:
        if len(parameters) != 1:
            raise _mismatch(f"The template's {_place(slot.key)} takes one parameter.")
        _types_check(slot, parameters, frozenset({slot.kind}))
        return
    if len(parameters) != len(slot.variables):
        raise _mismatch(
            f"The template's {_place(slot.key)} has {len(slot.variables)} variable(s); {len(parameters)} given."
        )
    _types_check(slot, parameters, BODY_TYPES if slot.kind == "body" else TEXT_TYPES)
    if is_named:
        names = [parameter.get("parameter_name") for parameter in parameters]
        if sorted(map(str, names)) != sorted(slot.variables):
            expected = ", ".join(slot.variables)
            raise _mismatch(f"The template's {_place(slot.key)} takes named parameters {expected} (parameter_name).")


def _types_check(slot: Slot, parameters: list[dict[str, Any]], allowed: frozenset[str]) -> None:
    for position, parameter in enumerate(parameters, start=1):
        kind = parameter.get("type")
        if kind not in allowed or not _has_value(parameter, str(kind)):
            raise SendRuleError(
                SendRule.TEMPLATE_PARAMETER_TYPE,
                f"Parameter {position} of the {_place(slot.key)} must be one of {', '.join(sorted(allowed))}, "
                "with its value.",
                field="template.components",
            )


def _has_value(parameter: dict[str, Any], kind: str) -> bool:
    value = parameter.get(kind)
    if kind in {"text", "payload", "coupon_code"}:
        return isinstance(value, str) and value != ""
    return isinstance(value, dict)


def _has_media(parameter: dict[str, Any], media: str) -> bool:
    value = parameter.get(media)
    if not isinstance(value, dict):
        return False
    if media == "location":
        return "latitude" in value and "longitude" in value
    return bool(value.get("id") or value.get("link"))


def _place(key: str) -> str:
    return f"button {key.removeprefix('button:')}" if key.startswith("button:") else key


def _mismatch(detail: str) -> SendRuleError:
    return SendRuleError(SendRule.TEMPLATE_PARAMETER_MISMATCH, detail, field="template.components")


# --- Graph: list, create, delete -----------------------------------------------------------------


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


class TemplateDefinitionError(ValueError):
    """A template that Meta would refuse; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, kw_only=True)
class TemplateDefinition:
    name: str
    language: str
    category: str
    components: list[dict[str, Any]]
    parameter_format: str = ParameterFormat.POSITIONAL.value


def definition_check(definition: TemplateDefinition) -> None:
    """Raise ``TemplateDefinitionError`` for a definition Meta's review would refuse on its shape alone."""
    if not NAME.match(definition.name):
        raise TemplateDefinitionError("name", "Lower-case letters, digits and underscores, up to 512 characters.")
    if not LANGUAGE.match(definition.language):
        raise TemplateDefinitionError("language", "A language code such as en or en_US.")
    if definition.category not in TemplateCategory.values:
        raise TemplateDefinitionError("category", f"One of {', '.join(TemplateCategory.values)}.")
    if definition.parameter_format not in ParameterFormat.values:
        raise TemplateDefinitionError("parameter_format", f"One of {', '.join(ParameterFormat.values)}.")
    kinds = [str(component.get("type", "")).upper() for component in definition.components]
    if any(kind not in COMPONENT_TYPES for kind in kinds) or len(set(kinds)) != len(kinds):
        raise TemplateDefinitionError("components", "Components are HEADER, BODY, FOOTER and BUTTONS, each once.")
    if "BODY" not in kinds:
        raise TemplateDefinitionError("components", "A template has a BODY component.")
    for component in definition.components:
        _variables_check(component, definition.parameter_format)


def _variables_check(component: dict[str, Any], parameter_format: str) -> None:
    variables = template_variables(str(component.get("text", "")))
    if not variables:
        return
    kind = str(component.get("type", "")).upper()
    if parameter_format == ParameterFormat.NAMED:
        if not all(NAMED_VARIABLE.match(name) for name in variables):
            raise TemplateDefinitionError("components", f"{kind}: named variables are lower-case names.")
        return
    if sorted(variables, key=lambda name: (len(name), name)) != [str(n) for n in range(1, len(variables) + 1)]:
        raise TemplateDefinitionError(
            "components", f"{kind}: positional variables are {{{{1}}}}, {{{{2}}}}, … in turn."
        )


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


# --- Account webhooks ----------------------------------------------------------------------------


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
