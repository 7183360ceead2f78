"""The places of a template that a send fills with parameters."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
MEDIA_HEADERS = {"IMAGE": "image", "VIDEO": "video", "DOCUMENT": "document", "LOCATION": "location"}


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
