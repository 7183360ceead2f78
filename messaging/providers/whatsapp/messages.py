"""Each WhatsApp send type twice over, side by side: how a request is checked and normalised into
``Message.content`` (``_normalise_*``), and how that content becomes the Graph body (``_build_*``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from messaging.providers.sending import SendRule, SendRuleError, at_most, count_at_most, https, only
from messaging.providers.whatsapp import MEDIA_TYPES

Normaliser = Callable[[dict[str, Any], str], dict[str, Any]]
Builder = Callable[[dict[str, Any]], dict[str, Any]]

CAPTIONED_MEDIA = frozenset({"image", "video", "document"})


class Limit:
    """Meta's limits, in characters or items (META-SPEC §6)."""

    TEXT = 4096
    CAPTION = 1024
    FILENAME = 240
    TEMPLATE_NAME = 512
    INTERACTIVE_BODY = 1024
    HEADER_TEXT = 60
    FOOTER = 60
    BUTTONS = 3
    BUTTON_TITLE = 20
    BUTTON_ID = 256
    LIST_BUTTON = 20
    LIST_SECTIONS = 10
    LIST_ROWS = 10
    SECTION_TITLE = 24
    ROW_ID = 200
    ROW_TITLE = 24
    ROW_DESCRIPTION = 72
    EMOJI = 16


def _normalise_text(payload: dict[str, Any], _: str) -> dict[str, Any]:
    if payload.get("quick_replies"):
        raise SendRuleError(SendRule.NOT_SUPPORTED, "quick_replies are for Messenger and Instagram.", field="text")
    at_most(payload["body"], Limit.TEXT, "text.body")
    return {"body": payload["body"], "preview_url": bool(payload.get("preview_url", False))}


def _build_text(text: dict[str, Any]) -> dict[str, Any]:
    return {"preview_url": bool(text.get("preview_url", False)), "body": text["body"]}


def _normalise_template(payload: dict[str, Any], _: str) -> dict[str, Any]:
    at_most(payload["name"], Limit.TEMPLATE_NAME, "template.name")
    return {"name": payload["name"], "language": payload["language"], "components": list(payload.get("components", []))}


def _build_template(template: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": template["name"],
        "language": {"policy": "deterministic", "code": template["language"]},
    }
    if template.get("components"):
        body["components"] = template["components"]
    return body


def _normalise_media(payload: dict[str, Any], message_type: str) -> dict[str, Any]:
    if payload.get("caption") is not None and message_type not in CAPTIONED_MEDIA:
        raise SendRuleError(
            SendRule.NOT_SUPPORTED, f"{message_type} takes no caption.", field=f"{message_type}.caption"
        )
    if payload.get("filename") is not None and message_type != "document":
        raise SendRuleError(SendRule.NOT_SUPPORTED, "Only documents take a filename.", field=f"{message_type}.filename")
    at_most(payload.get("caption"), Limit.CAPTION, f"{message_type}.caption")
    at_most(payload.get("filename"), Limit.FILENAME, f"{message_type}.filename")
    if payload.get("link") is not None:
        https(payload["link"], f"{message_type}.link")
    return only(payload, "id", "link", "caption", "filename")


def _build_media(media: dict[str, Any]) -> dict[str, Any]:
    source = {"id": media["id"]} if media.get("id") else {"link": media["link"]}
    return source | {name: media[name] for name in ("caption", "filename") if media.get(name) is not None}


def _normalise_interactive(payload: dict[str, Any], _: str) -> dict[str, Any]:
    at_most(payload["body"], Limit.INTERACTIVE_BODY, "interactive.body")
    at_most(payload.get("footer"), Limit.FOOTER, "interactive.footer")
    result = only(payload, "type", "body", "footer")
    header = payload.get("header")
    if header is not None:
        result["header"] = _normalise_header(header, payload["type"])
    if payload["type"] == "button":
        buttons = payload["buttons"]
        count_at_most(buttons, Limit.BUTTONS, "interactive.buttons")
        for index, button in enumerate(buttons):
            at_most(button["title"], Limit.BUTTON_TITLE, f"interactive.buttons[{index}].title")
            at_most(button["id"], Limit.BUTTON_ID, f"interactive.buttons[{index}].id")
        result["buttons"] = [{"id": button["id"], "title": button["title"]} for button in buttons]
        return result
    at_most(payload["button"], Limit.LIST_BUTTON, "interactive.button")
    sections = payload["sections"]
    count_at_most(sections, Limit.LIST_SECTIONS, "interactive.sections")
    count_at_most([row for section in sections for row in section["rows"]], Limit.LIST_ROWS, "interactive.rows")
    result["button"] = payload["button"]
    result["sections"] = [_normalise_section(section, index) for index, section in enumerate(sections)]
    return result


def _build_interactive(interactive: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"type": interactive["type"]}
    header = interactive.get("header")
    if header is not None:
        body["header"] = _build_header(header)
    body["body"] = {"text": interactive["body"]}
    if interactive.get("footer") is not None:
        body["footer"] = {"text": interactive["footer"]}
    if interactive["type"] == "button":
        body["action"] = {
            "buttons": [
                {"type": "reply", "reply": {"id": button["id"], "title": button["title"]}}
                for button in interactive["buttons"]
            ]
        }
    else:
        body["action"] = {"button": interactive["button"], "sections": interactive["sections"]}
    return body


def _normalise_header(header: dict[str, Any], interactive_type: str) -> dict[str, Any]:
    if header["type"] == "text":
        at_most(header["text"], Limit.HEADER_TEXT, "interactive.header.text")
        return {"type": "text", "text": header["text"]}
    if interactive_type == "list":
        raise SendRuleError(
            SendRule.NOT_SUPPORTED, "List messages take only a text header.", field="interactive.header"
        )
    if header.get("link") is not None:
        https(header["link"], "interactive.header.link")
    return only(header, "type", "id", "link")


def _build_header(header: dict[str, Any]) -> dict[str, Any]:
    kind = header["type"]
    if kind == "text":
        return {"type": "text", "text": header["text"]}
    source = {"id": header["id"]} if header.get("id") else {"link": header["link"]}
    return {"type": kind, kind: source}


def _normalise_section(section: dict[str, Any], index: int) -> dict[str, Any]:
    at_most(section.get("title"), Limit.SECTION_TITLE, f"interactive.sections[{index}].title")
    rows = []
    for row_index, row in enumerate(section["rows"]):
        where = f"interactive.sections[{index}].rows[{row_index}]"
        at_most(row["id"], Limit.ROW_ID, f"{where}.id")
        at_most(row["title"], Limit.ROW_TITLE, f"{where}.title")
        at_most(row.get("description"), Limit.ROW_DESCRIPTION, f"{where}.description")
        rows.append(only(row, "id", "title", "description"))
    return {**only(section, "title"), "rows": rows}


def _normalise_reaction(payload: dict[str, Any], _: str) -> dict[str, Any]:
    at_most(payload["emoji"], Limit.EMOJI, "reaction.emoji")
    return {"message_id": payload["message_id"], "emoji": payload["emoji"]}  # a gateway id until resolved


def _build_reaction(reaction: dict[str, Any]) -> dict[str, Any]:
    return {"message_id": reaction["message_id"], "emoji": reaction["emoji"]}


def _normalise_mark_read(payload: dict[str, Any], _: str) -> dict[str, Any]:
    return {"message_id": payload["message_id"]}  # a gateway id until resolved


NORMALISERS: dict[str, Normaliser] = {
    "text": _normalise_text,
    "template": _normalise_template,
    **dict.fromkeys(MEDIA_TYPES, _normalise_media),
    "interactive": _normalise_interactive,
    "reaction": _normalise_reaction,
    "mark_read": _normalise_mark_read,
}
# mark_read is not a message: its Graph body is built apart (``send.graph_request``).
BUILDERS: dict[str, Builder] = {
    "text": _build_text,
    "template": _build_template,
    **dict.fromkeys(MEDIA_TYPES, _build_media),
    "interactive": _build_interactive,
    "reaction": _build_reaction,
}
TYPES = tuple(NORMALISERS)
