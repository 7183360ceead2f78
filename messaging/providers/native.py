"""Meta's own request shapes, as its documentation shows them, read as the send API's shapes: a developer may
paste a WhatsApp ``interactive`` or ``template`` object, or a Messenger/Instagram ``attachment``, from Meta's docs.

WhatsApp's text, media (``link`` or ``id``, ``caption``) and reactions already have Meta's shape. The send API's own
shapes are flatter: an interactive's ``body`` is its text and its buttons are ``{id, title}``; a template's
``language`` is its code. Each function here takes either shape and answers ours, unchanged when it is ours;
checks are left to the serializers and the normalisers (``messages.py``), which see one shape only.
"""

from __future__ import annotations

from typing import Any

HEADER_MEDIA = ("image", "video", "document")


def interactive_from_native(payload: dict[str, Any]) -> dict[str, Any]:
    """Meta's ``interactive`` (``body.text``, ``footer.text``, a media header's object, and ``action`` with
    ``buttons[].reply`` or ``button`` and ``sections``) as ours; ours unchanged."""
    shaped = {key: value for key, value in payload.items() if key != "action"}
    for key in ("body", "footer"):
        if key in payload:
            shaped[key] = _text_of(payload[key])
    if "header" in payload:
        shaped["header"] = _header(payload["header"])
    action = payload.get("action")
    if isinstance(action, dict):
        buttons = action.get("buttons")
        if buttons is not None:
            shaped["buttons"] = [_button(button) for button in buttons] if isinstance(buttons, list) else buttons
        for key in ("button", "sections"):
            if key in action:
                shaped[key] = action[key]
    return shaped


def template_from_native(payload: dict[str, Any]) -> dict[str, Any]:
    """Meta's ``template`` (``language: {"code": …, "policy": "deterministic"}``) as ours; ours unchanged."""
    language = payload.get("language")
    if isinstance(language, dict) and "code" in language:
        return {**payload, "language": language["code"]}
    return payload


def attachment_from_native(payload: dict[str, Any]) -> dict[str, Any]:
    """Meta's Send API ``attachment`` (``{"type", "payload": {"url", "is_reusable"}}``) as ours; ours unchanged."""
    inner = payload.get("payload")
    if "url" not in payload and isinstance(inner, dict) and "url" in inner:
        return {"type": payload.get("type"), "url": inner["url"]}
    return payload


def _text_of(value: Any) -> Any:
    return value["text"] if isinstance(value, dict) and "text" in value else value


def _header(header: Any) -> Any:
    """``{"type": "image", "image": {"link": …}}`` → ``{"type": "image", "link": …}``."""
    if not isinstance(header, dict):
        return header
    kind = header.get("type")
    media = header.get(kind) if kind in HEADER_MEDIA else None
    if not isinstance(media, dict):
        return header
    return {"type": kind, **{key: media[key] for key in ("id", "link") if key in media}}


def _button(button: Any) -> Any:
    """``{"type": "reply", "reply": {"id", "title"}}`` → ``{"id", "title"}``."""
    if isinstance(button, dict) and isinstance(button.get("reply"), dict):
        return button["reply"]
    return button
