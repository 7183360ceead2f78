"""WhatsApp template rules, pure: what a template's components ask of a send, each refusal's rule, the
definitions Meta would refuse, Graph's list pages, and the account webhooks (Meta's documented examples)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from messaging.providers.registry import adapter_for
from messaging.providers.sending import SendRule, SendRuleError
from messaging.providers.templates import TemplateFacts, TemplateReference
from messaging.providers.whatsapp.templates import changes as template_changes
from messaging.providers.whatsapp.templates import definitions as template_definitions
from messaging.providers.whatsapp.templates import graph as template_graph
from messaging.providers.whatsapp.templates.definitions import TemplateDefinition

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "templates"

BODY_POSITIONAL = {"type": "BODY", "text": "Hi {{1}}, your order {{2}} ships on {{3}}. Thanks {{1}}!"}
BODY_NAMED = {"type": "BODY", "text": "Hi {{first_name}}, your order {{order_id}} ships soon."}
IMAGE_HEADER = {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW..."]}}
TEXT_HEADER = {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"}
BUTTONS = {
    "type": "BUTTONS",
    "buttons": [
        {"type": "QUICK_REPLY", "text": "Stop"},
        {"type": "URL", "text": "Track", "url": "https://example.com/track/{{1}}"},
        {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+15550001111"},
    ],
}


def facts(*components: dict[str, Any], status: str = "APPROVED", parameter_format: str = "POSITIONAL") -> TemplateFacts:
    return TemplateFacts(
        name="order_update",
        language="en_US",
        status=status,
        parameter_format=parameter_format,
        components=list(components),
    )


def content(*components: dict[str, Any]) -> dict[str, Any]:
    template = {"name": "order_update", "language": "en_US", "components": list(components)}
    return {"v": 1, "platform": "whatsapp", "type": "template", "template": template}


def text(value: str, name: str | None = None) -> dict[str, Any]:
    parameter: dict[str, Any] = {"type": "text", "text": value}
    if name is not None:
        parameter["parameter_name"] = name
    return parameter


def body(*parameters: dict[str, Any]) -> dict[str, Any]:
    return {"type": "body", "parameters": list(parameters)}


def refusal(send: dict[str, Any], template: TemplateFacts) -> SendRule:
    with pytest.raises(SendRuleError) as raised:
        adapter_for("whatsapp").template_check(send, template)
    return raised.value.rule


def test_a_positional_body_takes_one_parameter_per_distinct_variable() -> None:
    template = facts(BODY_POSITIONAL)

    adapter_for("whatsapp").template_check(content(body(text("Ana"), text("42"), text("Monday"))), template)

    assert refusal(content(body(text("Ana"), text("42"))), template) is SendRule.TEMPLATE_PARAMETER_MISMATCH
    four = body(text("Ana"), text("42"), text("Monday"), text("extra"))
    assert refusal(content(four), template) is SendRule.TEMPLATE_PARAMETER_MISMATCH
    assert refusal(content(), template) is SendRule.TEMPLATE_PARAMETER_MISMATCH


def test_body_parameters_may_be_currency_or_date_time_but_not_media() -> None:
    template = facts(BODY_POSITIONAL)
    currency = {"type": "currency", "currency": {"fallback_value": "$10", "code": "USD", "amount_1000": 10000}}
    date_time = {"type": "date_time", "date_time": {"fallback_value": "Monday"}}
    image = {"type": "image", "image": {"link": "https://example.com/a.png"}}

    adapter_for("whatsapp").template_check(content(body(text("Ana"), currency, date_time)), template)

    assert refusal(content(body(text("Ana"), image, date_time)), template) is SendRule.TEMPLATE_PARAMETER_TYPE
    assert refusal(content(body(text(""), text("1"), text("2"))), template) is SendRule.TEMPLATE_PARAMETER_TYPE


def test_named_parameters_must_name_each_variable() -> None:
    template = facts(BODY_NAMED, parameter_format="NAMED")

    named = body(text("42", "order_id"), text("Ana", "first_name"))
    adapter_for("whatsapp").template_check(content(named), template)

    unnamed = body(text("Ana"), text("42"))
    wrong_name = body(text("Ana", "first_name"), text("42", "order"))
    assert refusal(content(unnamed), template) is SendRule.TEMPLATE_PARAMETER_MISMATCH
    assert refusal(content(wrong_name), template) is SendRule.TEMPLATE_PARAMETER_MISMATCH


def test_a_media_header_must_be_given_with_its_media() -> None:
    template = facts(IMAGE_HEADER, {"type": "BODY", "text": "Your receipt."})
    image = {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://example.com/r.png"}}]}
    video = {"type": "header", "parameters": [{"type": "video", "video": {"id": "123"}}]}
    empty_image = {"type": "header", "parameters": [{"type": "image", "image": {}}]}

    adapter_for("whatsapp").template_check(content(image), template)

    assert refusal(content(), template) is SendRule.TEMPLATE_HEADER_MEDIA_REQUIRED
    assert refusal(content(video), template) is SendRule.TEMPLATE_HEADER_MEDIA_REQUIRED
    assert refusal(content(empty_image), template) is SendRule.TEMPLATE_HEADER_MEDIA_REQUIRED


def test_a_text_header_and_a_dynamic_url_button_take_their_parameters() -> None:
    template = facts(TEXT_HEADER, {"type": "BODY", "text": "Thanks."}, BUTTONS)
    header = {"type": "header", "parameters": [text("A-1")]}
    url = {"type": "button", "sub_type": "url", "index": "1", "parameters": [text("A-1")]}
    stop = {"type": "payload", "payload": "STOP"}
    quick_reply = {"type": "button", "sub_type": "quick_reply", "index": 0, "parameters": [stop]}

    adapter_for("whatsapp").template_check(content(header, url), template)
    adapter_for("whatsapp").template_check(content(header, url, quick_reply), template)

    assert refusal(content(header), template) is SendRule.TEMPLATE_PARAMETER_MISMATCH
    phone = {"type": "button", "sub_type": "url", "index": "2", "parameters": [text("x")]}
    assert refusal(content(header, url, phone), template) is SendRule.TEMPLATE_PARAMETER_MISMATCH
    stray_body = body(text("x"))
    assert refusal(content(header, url, stray_body), template) is SendRule.TEMPLATE_PARAMETER_MISMATCH
    twice = content(header, header, url)
    assert refusal(twice, template) is SendRule.TEMPLATE_PARAMETER_MISMATCH


def test_a_template_without_variables_takes_no_parameters() -> None:
    template = facts({"type": "BODY", "text": "Welcome!"})

    adapter_for("whatsapp").template_check(content(), template)

    assert refusal(content(body(text("x"))), template) is SendRule.TEMPLATE_PARAMETER_MISMATCH


@pytest.mark.parametrize(
    ("status", "rule"),
    [
        ("PAUSED", SendRule.TEMPLATE_PAUSED),
        ("DISABLED", SendRule.TEMPLATE_DISABLED),
        ("PENDING", SendRule.TEMPLATE_NOT_APPROVED),
        ("REJECTED", SendRule.TEMPLATE_NOT_APPROVED),
        ("IN_APPEAL", SendRule.TEMPLATE_NOT_APPROVED),
        ("UNKNOWN", SendRule.TEMPLATE_NOT_APPROVED),
    ],
)
def test_only_an_approved_template_is_sent(status: str, rule: SendRule) -> None:
    template = facts({"type": "BODY", "text": "Welcome!"}, status=status)

    assert refusal(content(), template) is rule


def test_the_reference_is_the_sends_name_and_language_and_other_platforms_have_none() -> None:
    assert adapter_for("whatsapp").template_reference(content()) == TemplateReference(
        name="order_update", language="en_US"
    )
    assert adapter_for("whatsapp").template_reference({"type": "text", "text": {"body": "hi"}}) is None
    assert adapter_for("messenger").template_reference(content()) is None


def test_the_rule_codes_are_documented_for_the_openapi_document() -> None:
    from messaging.outbound.serializers import RULES_DOCUMENTED

    for rule in (
        SendRule.TEMPLATE_NOT_FOUND,
        SendRule.TEMPLATE_NOT_APPROVED,
        SendRule.TEMPLATE_PAUSED,
        SendRule.TEMPLATE_DISABLED,
        SendRule.TEMPLATE_PARAMETER_MISMATCH,
        SendRule.TEMPLATE_PARAMETER_TYPE,
        SendRule.TEMPLATE_HEADER_MEDIA_REQUIRED,
    ):
        assert f"`{rule.value}`" in RULES_DOCUMENTED


# --- Definitions ---------------------------------------------------------------------------------


def definition(**overrides: Any) -> TemplateDefinition:
    fields: dict[str, Any] = {
        "name": "order_update",
        "language": "en_US",
        "category": "UTILITY",
        "components": [BODY_POSITIONAL],
    }
    return TemplateDefinition(**(fields | overrides))


def test_a_good_definition_passes_and_its_body_is_what_graph_takes() -> None:
    template_definitions.definition_check(definition())
    template_definitions.definition_check(definition(components=[BODY_NAMED], parameter_format="NAMED"))

    assert template_graph.template_create_body(definition()) == {
        "name": "order_update",
        "language": "en_US",
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "components": [BODY_POSITIONAL],
    }


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "Order Update"}, "name"),
        ({"language": "english"}, "language"),
        ({"category": "PROMO"}, "category"),
        ({"parameter_format": "BOTH"}, "parameter_format"),
        ({"components": [{"type": "FOOTER", "text": "bye"}]}, "components"),
        ({"components": [BODY_POSITIONAL, BODY_POSITIONAL]}, "components"),
        ({"components": [{"type": "BODY", "text": "Hi {{2}}"}]}, "components"),
        ({"components": [BODY_NAMED]}, "components"),
        ({"components": [BODY_POSITIONAL], "parameter_format": "NAMED"}, "components"),
    ],
)
def test_definitions_meta_would_refuse_name_their_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(template_definitions.TemplateDefinitionError) as raised:
        template_definitions.definition_check(definition(**overrides))

    assert raised.value.field == field


# --- Graph's list --------------------------------------------------------------------------------


def test_a_list_page_gives_its_templates_and_the_next_cursor() -> None:
    page = {
        "data": [
            {
                "name": "order_update",
                "language": "en_US",
                "status": "APPROVED",
                "category": "UTILITY",
                "id": "806312974732579",
                "quality_score": {"score": "GREEN", "date": 1739321024},
                "components": [BODY_POSITIONAL],
            },
            {"name": "broken"},
            {"name": "odd", "language": "fr", "status": "SOMETHING_NEW", "id": 7, "parameter_format": "NAMED"},
        ],
        "paging": {"cursors": {"before": "QVFI", "after": "QVFJ"}, "next": "https://graph.facebook.com/next"},
    }

    templates, after = template_graph.templates_page(page)

    assert after == "QVFJ"
    assert [(t.name, t.status, t.quality_score, t.parameter_format) for t in templates] == [
        ("order_update", "APPROVED", "GREEN", "POSITIONAL"),
        ("odd", "UNKNOWN", "", "NAMED"),
    ]
    assert templates[0].components == [BODY_POSITIONAL]
    last = {"data": [], "paging": {"cursors": {"before": "QVFI", "after": "QVFJ"}}}
    assert template_graph.templates_page(last) == ([], None)
    with pytest.raises(ValueError, match="list page"):
        template_graph.templates_page({"error": {"code": 100}})


# --- Account webhooks ----------------------------------------------------------------------------


def change_of(fixture: str) -> template_changes.TemplateChange | None:
    document = json.loads((FIXTURES / fixture).read_text())
    change = document["entry"][0]["changes"][0]
    return template_changes.template_change(change["field"], change["value"])


def test_status_updates_set_the_status_and_the_reason() -> None:
    approved = change_of("status_update_approved.json")
    rejected = change_of("status_update_rejected.json")
    paused = change_of("status_update_paused.json")

    assert approved == template_changes.TemplateChange(
        template_id="806312974732579",
        name="order_update",
        language="en_US",
        status="APPROVED",
        reason=None,
        category="UTILITY",
    )
    assert rejected is not None
    assert (rejected.status, rejected.reason) == ("REJECTED", "INVALID_FORMAT")
    assert paused is not None
    assert (paused.status, paused.reason) == ("PAUSED", None)


def test_an_event_that_is_not_a_status_leaves_the_status_alone() -> None:
    unarchived = change_of("status_update_unarchived.json")

    assert unarchived is not None
    assert unarchived.status is None


def test_quality_and_category_updates() -> None:
    quality = change_of("quality_update.json")
    category = change_of("category_update.json")
    impending = change_of("category_update_impending.json")

    assert quality is not None
    assert (quality.quality_score, quality.status) == ("RED", None)
    assert category is not None
    assert category.category == "MARKETING"
    assert impending is not None
    assert impending.category == "UTILITY"  # still the current one; Meta announces the change when it happens


def test_other_fields_and_values_without_their_template_are_no_change() -> None:
    assert template_changes.template_change("account_update", {"event": "VERIFIED_ACCOUNT"}) is None
    assert template_changes.template_change("message_template_status_update", {"event": "APPROVED"}) is None
    assert template_changes.template_change("message_template_status_update", ["not", "an", "object"]) is None
