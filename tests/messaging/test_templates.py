"""Message templates against the real simulator: the sync (pages, updates, removals, one account failing), create
and delete through the API (scopes, audit, refusals before and by Meta), the account webhooks, the send checks
(each refusal a 422 with its rule, nothing queued) and the ``templates_sync`` command."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from accounts.models import ApiScope, Tenant
from audit.models import AuditAction, AuditEvent
from messaging import message_templates
from messaging.message_templates import templates_apply_account_event, templates_sync, templates_sync_all
from messaging.models import Message, MessageTemplate, OutboxEntry
from messaging.providers.sending import SendRule
from messaging.providers.whatsapp.templates import graph as template_graph
from messaging.tasks import templates_sync_task
from tests.messaging.template_support import (
    BODY,
    GRAPH_TEMPLATES,
    SEND_URL,
    TEMPLATES_URL,
    TOKEN,
    WABA_ID,
    Account,
    account_on_simulator,
    body_parameters,
    client_for,
    simulator_create,
    simulator_move,
    simulator_status,
    simulator_templates,
    template_send,
)
from tests.simulator.conftest import SimulatorClient

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "templates"


@pytest.fixture
def account(simulator: SimulatorClient, tenant_a: Tenant, settings: Settings) -> Account:
    settings.GATEWAY_GRAPH_BASE_URL = simulator.base_url
    return account_on_simulator(simulator, tenant_a)


def row(name: str, language: str = "en_US") -> MessageTemplate:
    return MessageTemplate.objects.get(name=name, language=language)


# --- Sync ----------------------------------------------------------------------------------------


def test_a_sync_stores_what_graph_lists_across_pages(account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(template_graph, "LIST_PAGE_SIZE", 2)
    ids = [simulator_create(account.simulator, f"template_{index}") for index in range(5)]

    result = templates_sync(tenant=account.tenant, waba_id=WABA_ID)

    assert (result.created, result.updated, result.removed) == (5, 0, 0)
    stored = list(MessageTemplate.objects.order_by("name"))
    assert [template.provider_template_id for template in stored] == ids
    first = stored[0]
    assert (first.status, first.category, first.parameter_format, first.components) == (
        "APPROVED",
        "UTILITY",
        "POSITIONAL",
        [BODY],
    )
    assert first.quality_score == "UNKNOWN"
    assert first.synced_at is not None
    assert not AuditEvent.objects.filter(action=AuditAction.TEMPLATES_SYNCED).exists()  # the periodic one is quiet


def test_a_list_longer_than_the_page_limit_fails_and_removes_nothing(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulator_create(account.simulator, "kept")
    templates_sync(tenant=account.tenant, waba_id=WABA_ID)
    simulator_create(account.simulator, "second")
    simulator_create(account.simulator, "third")
    monkeypatch.setattr(template_graph, "LIST_PAGE_SIZE", 1)
    monkeypatch.setattr(message_templates, "MAX_PAGES", 2)

    with pytest.raises(message_templates.TemplateGraphError, match="more than 2 pages"):
        templates_sync(tenant=account.tenant, waba_id=WABA_ID)

    assert list(MessageTemplate.objects.values_list("name", flat=True)) == ["kept"]


def test_a_second_sync_updates_and_removes(account: Account) -> None:
    simulator_create(account.simulator, "order_update")
    simulator_create(account.simulator, "goodbye")
    templates_sync(tenant=account.tenant, waba_id=WABA_ID)
    simulator_move(account.simulator, "order_update", status="PAUSED", quality_score="RED")
    deleted = account.simulator.request("DELETE", f"{GRAPH_TEMPLATES}?name=goodbye", token=TOKEN)
    assert deleted.status == 200

    result = templates_sync(tenant=account.tenant, waba_id=WABA_ID)

    assert (result.created, result.updated, result.removed) == (0, 1, 1)
    assert [(t.name, t.status, t.quality_score) for t in MessageTemplate.objects.all()] == [
        ("order_update", "PAUSED", "RED")
    ]


def test_the_periodic_sync_goes_on_past_an_account_that_fails(account: Account, tenant_b: Tenant) -> None:
    account_on_simulator(account.simulator, tenant_b, provider_id="106540352242923", waba_id="555")
    simulator_create(account.simulator, "order_update")
    account.simulator.request("DELETE", "/_sim/channels")  # Meta forgets everything: both accounts fail
    account_on_simulator_twin(account)
    simulator_create(account.simulator, "order_update")

    synced = templates_sync_all()

    assert synced == 1
    assert MessageTemplate.objects.filter(tenant=account.tenant).count() == 1
    assert templates_sync_task() == {"accounts": 1}


def account_on_simulator_twin(account: Account) -> None:
    """Only tenant A's number again in the simulator; tenant B's account is unknown there."""
    account.simulator.channel_add(
        provider_id=account.channel.provider_id,
        access_token=TOKEN,
        waba_id=WABA_ID,
        enforce_window=False,
        pair_period_seconds=0,
    )
    account.simulator.request("POST", "/_sim/templates/review", {"delay_seconds": 0})


def test_the_command_syncs_every_account_or_one_and_says_so(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator_create(account.simulator, "order_update")
    out = StringIO()

    call_command("templates_sync", stdout=out)
    assert "tenant-a/102290129340398: 1 new, 0 updated, 0 removed." in out.getvalue()
    assert "1 account(s) synced, 0 failed." in out.getvalue()

    out = StringIO()
    call_command("templates_sync", "--tenant", "tenant-a", "--waba-id", WABA_ID, "--json", stdout=out)
    assert json.loads(out.getvalue()) == {
        "account": "tenant-a/102290129340398",
        "created": 0,
        "updated": 1,
        "removed": 0,
    }
    assert AuditEvent.objects.filter(action=AuditAction.TEMPLATES_SYNCED, actor_label="cli").count() == 1
    with pytest.raises(SystemExit):
        call_command("templates_sync", "--help")
    shown = capsys.readouterr().out
    assert "--waba-id" in shown and "Sync WhatsApp message templates" in shown
    with pytest.raises(CommandError, match="together"):
        call_command("templates_sync", "--tenant", "tenant-a")
    with pytest.raises(CommandError, match="no WhatsApp channel"):
        call_command("templates_sync", "--tenant", "tenant-a", "--waba-id", "999")


# --- The API -------------------------------------------------------------------------------------


def definition(**overrides: Any) -> dict[str, Any]:
    return {"waba_id": WABA_ID, "name": "order_update", "language": "en_US", "category": "UTILITY",
            "components": [BODY], **overrides}  # fmt: skip


def test_create_submits_to_meta_stores_pending_and_is_audited(account: Account) -> None:
    manager = client_for(account.tenant, ApiScope.TEMPLATES_MANAGE)
    account.simulator.request("POST", "/_sim/templates/review", {"delay_seconds": 60})

    response = manager.post(TEMPLATES_URL, definition(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["language"], body["status"], body["waba_id"]) == (
        "order_update",
        "en_US",
        "PENDING",
        WABA_ID,
    )
    assert simulator_status(account.simulator, "order_update") == "PENDING"
    template = row("order_update")
    assert template.provider_template_id == simulator_templates(account.simulator)[0]["id"]
    event = AuditEvent.objects.get(action=AuditAction.TEMPLATE_CREATED)
    assert event.target_id == str(template.pk)
    assert event.actor_label.startswith("api_key:")
    assert event.details["name"] == "order_update"
    assert "Hello" not in json.dumps(event.details)


def test_refusals_before_meta_is_asked_are_400_with_their_field(account: Account) -> None:
    manager = client_for(account.tenant, ApiScope.TEMPLATES_MANAGE)

    bad_name = manager.post(TEMPLATES_URL, definition(name="Order Update"), format="json")
    bad_variables = manager.post(
        TEMPLATES_URL, definition(components=[{"type": "BODY", "text": "Hi {{3}}"}]), format="json"
    )
    no_channel = manager.post(TEMPLATES_URL, definition(waba_id="999"), format="json")
    not_digits = manager.post(TEMPLATES_URL, definition(waba_id="abc"), format="json")

    for response, field in (
        (bad_name, "name"),
        (bad_variables, "components"),
        (no_channel, "waba_id"),
        (not_digits, "waba_id"),
    ):
        assert response.status_code == 400, response.content
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "invalid_request"
        assert [error["field"] for error in response.json()["errors"]] == [field]
    assert simulator_templates(account.simulator) == []
    assert not MessageTemplate.objects.exists()


def test_a_refusal_by_meta_is_502_with_its_code_and_nothing_stored(account: Account) -> None:
    simulator_create(account.simulator, "order_update")  # at Meta, not synced here
    manager = client_for(account.tenant, ApiScope.TEMPLATES_MANAGE)

    response = manager.post(TEMPLATES_URL, definition(), format="json")

    assert response.status_code == 502
    assert (response.json()["code"], response.json()["meta_code"]) == ("meta_refused", 100)
    assert TOKEN not in response.content.decode()
    assert not MessageTemplate.objects.exists()


def test_reading_is_scoped_to_the_tenant_and_filtered(account: Account, tenant_b: Tenant) -> None:
    simulator_create(account.simulator, "order_update")
    simulator_create(account.simulator, "goodbye")
    simulator_move(account.simulator, "goodbye", status="PAUSED")
    templates_sync(tenant=account.tenant, waba_id=WABA_ID)
    reader = client_for(account.tenant, ApiScope.MESSAGES_READ)
    stranger = client_for(tenant_b, ApiScope.MESSAGES_READ, ApiScope.TEMPLATES_MANAGE)
    template = row("order_update")

    listed = reader.get(TEMPLATES_URL).json()["results"]
    paused = reader.get(TEMPLATES_URL, {"status": "PAUSED"}).json()["results"]
    one = reader.get(f"{TEMPLATES_URL}{template.pk}/")

    assert {item["name"] for item in listed} == {"order_update", "goodbye"}
    assert [item["name"] for item in paused] == ["goodbye"]
    assert one.status_code == 200 and one.json()["components"] == [BODY]
    assert stranger.get(TEMPLATES_URL).json()["results"] == []
    assert stranger.get(f"{TEMPLATES_URL}{template.pk}/").status_code == 404
    assert stranger.delete(f"{TEMPLATES_URL}{template.pk}/").status_code == 404


def test_writing_needs_the_manage_scope(account: Account) -> None:
    simulator_create(account.simulator, "order_update")
    templates_sync(tenant=account.tenant, waba_id=WABA_ID)
    reader = client_for(account.tenant, ApiScope.MESSAGES_READ, ApiScope.MESSAGES_SEND)
    manager = client_for(account.tenant, ApiScope.TEMPLATES_MANAGE)
    template = row("order_update")

    assert reader.post(TEMPLATES_URL, definition(name="other"), format="json").status_code == 403
    assert reader.delete(f"{TEMPLATES_URL}{template.pk}/").status_code == 403
    assert reader.post(f"{TEMPLATES_URL}sync/", {"waba_id": WABA_ID}, format="json").status_code == 403
    assert manager.get(TEMPLATES_URL).status_code == 403  # reading takes messages:read


def test_delete_removes_it_at_meta_and_here_audited(account: Account) -> None:
    simulator_create(account.simulator, "order_update")
    simulator_create(account.simulator, "order_update", language="fr")
    templates_sync(tenant=account.tenant, waba_id=WABA_ID)
    manager = client_for(account.tenant, ApiScope.TEMPLATES_MANAGE)
    english = row("order_update")

    response = manager.delete(f"{TEMPLATES_URL}{english.pk}/")

    assert response.status_code == 204
    assert [t["language"] for t in simulator_templates(account.simulator)] == ["fr"]
    assert [t.language for t in MessageTemplate.objects.all()] == ["fr"]
    assert AuditEvent.objects.get(action=AuditAction.TEMPLATE_DELETED).target_id == str(english.pk)


def test_a_delete_meta_refuses_keeps_the_row(account: Account) -> None:
    simulator_create(account.simulator, "order_update")
    templates_sync(tenant=account.tenant, waba_id=WABA_ID)
    account.simulator.request("DELETE", f"{GRAPH_TEMPLATES}?name=order_update", token=TOKEN)
    manager = client_for(account.tenant, ApiScope.TEMPLATES_MANAGE)

    response = manager.delete(f"{TEMPLATES_URL}{row('order_update').pk}/")

    assert response.status_code == 502
    assert MessageTemplate.objects.count() == 1
    assert not AuditEvent.objects.filter(action=AuditAction.TEMPLATE_DELETED).exists()


def test_a_template_without_its_meta_id_is_not_deleted_by_name(account: Account) -> None:
    simulator_create(account.simulator, "order_update")
    simulator_create(account.simulator, "order_update", language="fr")
    template = stored(account.tenant, provider_template_id="", status="APPROVED")
    manager = client_for(account.tenant, ApiScope.TEMPLATES_MANAGE)

    response = manager.delete(f"{TEMPLATES_URL}{template.pk}/")

    assert response.status_code == 400
    assert "sync" in response.json()["errors"][0]["detail"]
    assert len(simulator_templates(account.simulator)) == 2
    assert MessageTemplate.objects.filter(pk=template.pk).exists()


def test_sync_on_request_answers_the_counts(account: Account) -> None:
    simulator_create(account.simulator, "order_update")
    manager = client_for(account.tenant, ApiScope.TEMPLATES_MANAGE)

    response = manager.post(f"{TEMPLATES_URL}sync/", {"waba_id": WABA_ID}, format="json")

    assert response.status_code == 200
    assert response.json() == {"waba_id": WABA_ID, "created": 1, "updated": 0, "removed": 0}
    assert AuditEvent.objects.filter(action=AuditAction.TEMPLATES_SYNCED).count() == 1


# --- Account webhooks ----------------------------------------------------------------------------


def fixture_change(name: str) -> tuple[str, dict[str, Any]]:
    change = json.loads((FIXTURES / name).read_text())["entry"][0]["changes"][0]
    return change["field"], change["value"]


def stored(tenant: Tenant, *, provider_template_id: str = "806312974732579", **fields: Any) -> MessageTemplate:
    values = {"waba_id": WABA_ID, "name": "order_update", "language": "en_US", "status": "PENDING",
              "category": "UTILITY", "components": [BODY], **fields}  # fmt: skip
    return MessageTemplate.objects.create(tenant=tenant, provider_template_id=provider_template_id, **values)


def apply(name: str, **extra: Any) -> int:
    field, value = fixture_change(name)
    return templates_apply_account_event(waba_id=WABA_ID, field=field, value=value, **extra)


def test_status_quality_and_category_updates_apply_to_the_template(tenant_a: Tenant) -> None:
    template = stored(tenant_a)

    assert apply("status_update_rejected.json") == 1
    template.refresh_from_db()
    assert (template.status, template.rejected_reason) == ("REJECTED", "INVALID_FORMAT")
    assert apply("status_update_approved.json") == 1
    assert apply("quality_update.json") == 1
    assert apply("category_update.json") == 1
    template.refresh_from_db()
    assert (template.status, template.rejected_reason, template.quality_score, template.category) == (
        "APPROVED",
        "",
        "RED",
        "MARKETING",
    )
    assert apply("status_update_paused.json") == 1
    assert apply("status_update_unarchived.json") == 1  # not a status: left to the sync
    template.refresh_from_db()
    assert template.status == "PAUSED"


def test_a_change_finds_its_template_by_name_and_language_when_the_id_is_unknown(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    mine = stored(tenant_a, provider_template_id="")
    theirs = stored(tenant_b, provider_template_id="")

    assert apply("status_update_approved.json", tenant=tenant_a) == 1

    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.status, theirs.status) == ("APPROVED", "PENDING")
    assert apply("status_update_approved.json") == 2  # no tenant given: every tenant on that account


def test_a_change_for_no_known_template_or_another_field_changes_nothing(tenant_a: Tenant) -> None:
    stored(tenant_a, name="other", provider_template_id="1")

    assert apply("status_update_approved.json") == 0
    assert templates_apply_account_event(waba_id=WABA_ID, field="account_update", value={"event": "X"}) == 0
    assert MessageTemplate.objects.get().status == "PENDING"


# --- Send checks ---------------------------------------------------------------------------------


def refused_rule(response: Any) -> str:
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "validation_failed"
    return str(response.json()["rule"])


def test_each_broken_template_rule_is_a_422_and_nothing_is_queued(account: Account) -> None:
    sender = client_for(account.tenant, ApiScope.MESSAGES_SEND)
    channel = account.channel
    stored(account.tenant, name="order_update", status="APPROVED")
    stored(account.tenant, name="paused_one", status="PAUSED", provider_template_id="2")
    stored(account.tenant, name="disabled_one", status="DISABLED", provider_template_id="3")
    stored(account.tenant, name="pending_one", status="PENDING", provider_template_id="4")
    media_header = [{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Receipt"}]
    stored(account.tenant, name="receipt", status="APPROVED", provider_template_id="5", components=media_header)

    cases = {
        "template_not_found": template_send(channel, "nowhere"),
        "template_paused": template_send(channel, "paused_one", body_parameters("a", "b")),
        "template_disabled": template_send(channel, "disabled_one", body_parameters("a", "b")),
        "template_not_approved": template_send(channel, "pending_one", body_parameters("a", "b")),
        "template_parameter_mismatch": template_send(channel, "order_update", body_parameters("a")),
        "template_parameter_type": template_send(
            channel,
            "order_update",
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "a"}, {"type": "image", "image": {"id": "1"}}],
            },
        ),
        "template_header_media_required": template_send(channel, "receipt"),
    }
    for rule, body in cases.items():
        assert refused_rule(sender.post(SEND_URL, body, format="json")) == rule, rule
    assert not Message.objects.exists()
    assert not OutboxEntry.objects.exists()

    accepted = sender.post(
        SEND_URL, template_send(channel, "order_update", body_parameters("Ana", "42")), format="json"
    )
    assert accepted.status_code == 202, accepted.content


def test_a_channel_without_an_account_id_sends_templates_unchecked(account: Account) -> None:
    sender = client_for(account.tenant, ApiScope.MESSAGES_SEND)
    type(account.channel).objects.filter(pk=account.channel.pk).update(waba_id="")

    response = sender.post(SEND_URL, template_send(account.channel, "nowhere"), format="json")

    assert response.status_code == 202, response.content


def test_the_openapi_document_lists_the_template_rules_and_operations() -> None:
    document = APIClient().get("/api/v1/schema/").json()

    send_422 = document["paths"][SEND_URL]["post"]["description"]
    for rule in SendRule:
        if rule.value.startswith("template_"):
            assert f"`{rule.value}`" in send_422
    operations = {
        operation["operationId"]
        for path, methods in document["paths"].items()
        if path.startswith(TEMPLATES_URL)
        for operation in methods.values()
    }
    assert operations == {
        "templates_list",
        "templates_create",
        "templates_retrieve",
        "templates_destroy",
        "templates_sync",
    }
    assert "502" in document["paths"][TEMPLATES_URL]["post"]["responses"]
