"""The checks of a template send: the template approved, and the send's components filling it exactly."""

from __future__ import annotations

from typing import Any

from messaging.providers.sending import SendRule, SendRuleError
from messaging.providers.templates import ParameterFormat, TemplateFacts, TemplateReference, TemplateStatus
from messaging.providers.whatsapp.templates.slots import Slot, template_slots

TEXT_TYPES = frozenset({"text"})
BODY_TYPES = frozenset({"text", "currency", "date_time"})
STATUS_RULES = {
    TemplateStatus.PAUSED.value: SendRule.TEMPLATE_PAUSED,
    TemplateStatus.DISABLED.value: SendRule.TEMPLATE_DISABLED,
}


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
