"""Encrypted fields in the admin: masked on every page, never searched, filtered or ordered by, and revealed
only through the reveal page (a role that may reveal, fresh step-up, typed reason), with one audit event each."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import pytest
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.contrib.auth.models import Permission
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils.html import escape

from accounts.admin_encrypted import (
    EMPTY,
    MASKED,
    UNREADABLE,
    EncryptedFieldsAdminMixin,
    audit_tenant_id,
    context_field_names,
    masked_name,
)
from accounts.mfa import totp_device_provision
from accounts.models import Membership, Role, Tenant, TotpDevice, User
from accounts.stepup import step_up_url
from audit.models import AuditAction, AuditEvent
from encryption import keyring
from encryption.fields import Sealed
from encryption.querysets import encrypted_fields
from tests.admin_pages import changelist_cells, readonly_values
from tests.conftest import PASSWORD, verify_session
from tests.testapp.models import Note

pytestmark = pytest.mark.django_db

BODY = "marker-body-5f1c plaintext"
SUMMARY = "marker-summary-9a2e plaintext"
ATTACHMENT = b"marker-attachment-77d0"
PAYLOAD = {"note": "marker-payload-3b8d"}
SET_FIELDS = ("body", "attachment", "payload", "summary")
REASON = "Ticket 4711: the customer asks what we stored"
STALE_STEP_UP_SECONDS = 11 * 60


@pytest.fixture(autouse=True)
def _fresh_key_cache() -> Iterator[None]:
    """Keys live in a process cache; rolled-back tests can reuse key ids (SQLite), so start and end empty."""
    keyring.cache_clear()
    yield
    keyring.cache_clear()


def note_create(tenant: Tenant, *, title: str = "Order question", marker: str = "") -> Note:
    return Note._default_manager.create(
        tenant_id=tenant.pk,
        title=title,
        body=BODY + marker,
        attachment=ATTACHMENT,
        payload=PAYLOAD,
        summary=SUMMARY + marker,
    )


@pytest.fixture
def note(tenant_a: Tenant) -> Note:
    return note_create(tenant_a)


@pytest.fixture
def note_b(tenant_b: Tenant) -> Note:
    return note_create(tenant_b, title="Delivery question")


def change_url(note: Note) -> str:
    return reverse("admin:testapp_note_change", args=[note.pk])


def reveal_url(note: Note) -> str:
    return reverse("admin:testapp_note_reveal", args=[note.pk])


def stored(note: Note) -> dict[str, bytes]:
    row = Note._default_manager.filter(pk=note.pk).values(*SET_FIELDS).get()
    return {name: bytes(value) for name, value in row.items()}


def ciphertext_forms(sealed: bytes) -> list[bytes]:
    """How stored bytes could show up in HTML: raw, hex, Latin-1 text (escaped or not), base64, a bytes repr."""
    text = sealed.decode("latin-1")
    escaped_repr = repr(sealed)[2:-1]
    return [
        sealed,
        sealed.hex().encode(),
        sealed.hex().upper().encode(),
        text.encode(),
        escape(text).encode(),
        base64.b64encode(sealed),
        escaped_repr.encode(),
        escape(escaped_repr).encode(),
    ]


def assert_no_secrets(content: bytes, *notes: Note) -> None:
    assert b"marker-" not in content
    assert ATTACHMENT.hex().encode() not in content
    assert b"Sealed" not in content
    for note in notes:
        for sealed in stored(note).values():
            for form in ciphertext_forms(sealed):
                assert form not in content


def reveal_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.CONTENT_REVEALED))


def flip_bit(sealed: bytes, bit: int) -> Sealed:
    flipped = bytearray(sealed)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return Sealed(bytes(flipped))


def client_for(user: User, device: TotpDevice | None, *, verified_seconds_ago: float | None = 0) -> Client:
    client = Client()
    client.force_login(user)
    if device is not None and verified_seconds_ago is not None:
        verify_session(client, device, verified_seconds_ago=verified_seconds_ago)
    return client


@pytest.fixture
def viewer(tenant_a: Tenant) -> User:
    """An agent of tenant A: views its notes and may reveal them, may not change them (no Django permission)."""
    user = User.objects.create_user("viewer@gateway.example", PASSWORD, is_staff=True)
    Membership.objects.create(tenant=tenant_a, user=user, role=Role.AGENT)
    return user


@pytest.fixture
def viewer_device(viewer: User) -> TotpDevice:
    return totp_device_provision(user=viewer)


# --- masking ------------------------------------------------------------------------------------------


def test_change_page_masks_every_encrypted_field(operator_client: Client, note: Note) -> None:
    response = operator_client.get(change_url(note))

    html = response.content.decode()
    assert response.status_code == 200
    assert readonly_values(html).count(MASKED) == len(SET_FIELDS)
    assert readonly_values(html).count(EMPTY) == len(encrypted_fields(Note)) - len(SET_FIELDS)
    assert f'href="{reveal_url(note)}"' in html
    assert_no_secrets(response.content, note)


def test_changelist_masks_listed_encrypted_field(operator_client: Client, note: Note, note_b: Note) -> None:
    response = operator_client.get(reverse("admin:testapp_note_changelist"))

    html = response.content.decode()
    assert response.status_code == 200
    assert changelist_cells(html, "masked_body").count(MASKED) == 2
    assert "Order question" in html
    assert "Delivery question" in html
    assert_no_secrets(response.content, note, note_b)


def test_view_only_change_page_is_masked_too(viewer: User, viewer_device: TotpDevice, note: Note) -> None:
    response = client_for(viewer, viewer_device).get(change_url(note))

    html = response.content.decode()
    assert response.status_code == 200
    assert readonly_values(html).count(MASKED) == len(SET_FIELDS)
    assert '<input type="submit" value="Save"' not in html
    assert_no_secrets(response.content, note)


def test_null_values_show_a_dash(operator_client: Client, tenant_a: Tenant) -> None:
    empty = Note._default_manager.create(tenant_id=tenant_a.pk, title="Nothing yet")

    html = operator_client.get(change_url(empty)).content.decode()

    assert readonly_values(html).count(EMPTY) == len(encrypted_fields(Note))
    assert MASKED not in html


def test_add_page_shows_encrypted_fields_empty(operator_client: Client) -> None:
    response = operator_client.get(reverse("admin:testapp_note_add"))

    assert response.status_code == 200
    assert readonly_values(response.content.decode()).count(EMPTY) == len(encrypted_fields(Note))


def test_saving_the_change_form_keeps_the_stored_ciphertext_and_the_tenant(
    operator_client: Client, note: Note, tenant_b: Tenant
) -> None:
    before = stored(note)

    response = operator_client.post(change_url(note), {"title": "Renamed", "tenant_id": str(tenant_b.pk)})

    assert response.status_code == 302
    assert stored(note) == before
    reloaded = Note._default_manager.get(pk=note.pk)
    assert (reloaded.title, reloaded.tenant_id) == ("Renamed", note.tenant_id)
    assert (reloaded.body, reloaded.summary) == (BODY, SUMMARY)


def test_the_tenant_a_stored_row_is_bound_to_is_read_only(operator_client: Client, note: Note) -> None:
    html = operator_client.get(change_url(note)).content.decode()

    assert context_field_names(Note) == ["tenant_id"]
    assert str(note.tenant_id) in readonly_values(html)
    assert 'name="tenant_id"' not in html
    assert 'name="tenant_id"' in operator_client.get(reverse("admin:testapp_note_add")).content.decode()


# --- no lookups or ordering on ciphertext -------------------------------------------------------------


class MisconfiguredNoteAdmin(EncryptedFieldsAdminMixin[Note]):
    search_fields = ("title", "^body")
    ordering = ("-summary", "title")
    list_filter = ("payload", "title")


def misconfigured_admin() -> MisconfiguredNoteAdmin:
    return MisconfiguredNoteAdmin(Note, AdminSite(name="misconfigured"))


def test_system_check_refuses_encrypted_search_ordering_and_filters() -> None:
    errors = [error for error in misconfigured_admin().check() if (error.id or "").startswith("accounts.")]

    assert [(error.id, error.msg) for error in errors] == [
        ("accounts.E101", "MisconfiguredNoteAdmin.search_fields names encrypted field(s) ['^body']."),
        ("accounts.E102", "MisconfiguredNoteAdmin.ordering names encrypted field(s) ['-summary']."),
        ("accounts.E103", "MisconfiguredNoteAdmin.list_filter names encrypted field(s) ['payload']."),
    ]


def test_the_registered_note_admin_passes_its_checks() -> None:
    assert admin.site._registry[Note].check() == []


def test_encrypted_names_are_dropped_from_search_ordering_and_filters(operator: User) -> None:
    request = RequestFactory().get("/")
    request.user = operator
    model_admin = misconfigured_admin()

    assert model_admin.get_search_fields(request) == ["title"]
    assert model_admin.get_ordering(request) == ["title"]
    assert model_admin.get_list_filter(request) == ["title"]


@pytest.mark.parametrize("query", ["body=x", "body__isnull=True", "summary__exact=x", "payload__contains=x"])
def test_changelist_refuses_lookups_on_encrypted_fields(operator_client: Client, note: Note, query: str) -> None:
    response = operator_client.get(f"{reverse('admin:testapp_note_changelist')}?{query}")

    assert response.status_code == 400


def test_masked_column_cannot_be_sorted(operator_client: Client, note: Note) -> None:
    response = operator_client.get(f"{reverse('admin:testapp_note_changelist')}?o=3")  # 3: the masked body column

    assert response.status_code == 200
    assert response.context["cl"].list_display[3] == "masked_body"
    assert response.context["cl"].queryset.query.order_by == ("-created_at", "-pk")


def test_changelist_search_uses_plain_fields_only(operator_client: Client, note: Note, note_b: Note) -> None:
    response = operator_client.get(f"{reverse('admin:testapp_note_changelist')}?q=Delivery")

    assert response.status_code == 200
    assert [row.pk for row in response.context["cl"].result_list] == [note_b.pk]


def test_encrypted_fields_missing_from_declared_fields_are_added_masked(operator: User) -> None:
    class DeclaredFieldsAdmin(EncryptedFieldsAdminMixin[Note]):
        fields = ("title", "body")
        fieldsets = None

    request = RequestFactory().get("/")
    request.user = operator
    model_admin = DeclaredFieldsAdmin(Note, AdminSite(name="declared"))
    others = [masked_name(field.name) for field in encrypted_fields(Note) if field.name != "body"]

    assert model_admin.get_fields(request) == ["title", "masked_body", *others]
    assert model_admin.get_readonly_fields(request) == [masked_name(field.name) for field in encrypted_fields(Note)]


def test_encrypted_fields_in_declared_fieldsets_are_masked(operator: User) -> None:
    class DeclaredFieldsetsAdmin(EncryptedFieldsAdminMixin[Note]):
        fieldsets = [("Main", {"fields": ("title", ("body", "summary"))})]

    request = RequestFactory().get("/")
    request.user = operator
    model_admin = DeclaredFieldsetsAdmin(Note, AdminSite(name="fieldsets"))
    others = [masked_name(field.name) for field in encrypted_fields(Note) if field.name not in {"body", "summary"}]

    assert model_admin.get_fieldsets(request) == [
        ("Main", {"fields": ["title", ["masked_body", "masked_summary"]]}),
        ("Encrypted", {"fields": tuple(others)}),
    ]


# --- reveal: who may, and when ------------------------------------------------------------------------


def test_reveal_with_a_stale_step_up_goes_to_step_up_first(
    operator: User, operator_device: TotpDevice, note: Note
) -> None:
    client = client_for(operator, operator_device, verified_seconds_ago=STALE_STEP_UP_SECONDS)

    response = client.post(reveal_url(note), {"field_names": ["body"], "reason": REASON})

    assert response.status_code == 302
    assert response["Location"] == step_up_url(reveal_url(note))
    assert_no_secrets(response.content, note)
    assert reveal_events() == []


def test_reveal_with_a_short_reason_shows_the_form_again(operator_client: Client, note: Note) -> None:
    response = operator_client.post(reveal_url(note), {"field_names": ["body"], "reason": "   short reason    "})

    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["Ensure this value has at least 15 characters (it has 12)."]}
    assert_no_secrets(response.content, note)
    assert reveal_events() == []


def test_reveal_without_a_chosen_field_shows_the_form_again(operator_client: Client, note: Note) -> None:
    response = operator_client.post(reveal_url(note), {"reason": REASON})

    assert response.context["form"].errors == {"field_names": ["This field is required."]}
    assert reveal_events() == []


def test_get_shows_the_form_and_reveals_nothing(operator_client: Client, note: Note) -> None:
    response = operator_client.get(reveal_url(note), {"field_names": ["body"], "reason": REASON})

    assert response.status_code == 200
    assert 'name="reason"' in response.content.decode()
    assert_no_secrets(response.content, note)
    assert reveal_events() == []


def test_reveal_shows_the_chosen_fields_once_and_records_one_event(
    operator_client: Client, operator: User, note: Note
) -> None:
    response = operator_client.post(reveal_url(note), {"field_names": ["summary", "body"], "reason": f"  {REASON} "})

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count(BODY) == 1
    assert html.count(SUMMARY) == 1
    assert "marker-payload" not in html
    assert ATTACHMENT.hex(" ") not in html
    assert "no-store" in response["Cache-Control"]
    [event] = reveal_events()
    assert event.details == {
        "model": "testapp.Note",
        "object_id": str(note.pk),
        "fields": "body,summary",
        "reason": REASON,
    }
    assert (event.tenant_id, event.chain) == (note.tenant_id, str(note.tenant_id))
    assert (event.actor_id, event.actor_label, event.ip) == (operator.pk, operator.email, "127.0.0.1")
    assert (event.target_type, event.target_id) == ("testapp.note", str(note.pk))


def test_reveal_shows_bytes_as_hex_and_json_indented(operator_client: Client, note: Note) -> None:
    response = operator_client.post(reveal_url(note), {"field_names": ["attachment", "payload"], "reason": REASON})

    html = response.content.decode()
    assert ATTACHMENT.hex(" ") in html
    assert escape('{\n  "note": "marker-payload-3b8d"\n}') in html
    assert reveal_events()[0].details["fields"] == "attachment,payload"


def test_each_reveal_goes_to_the_rows_tenant_chain(operator_client: Client, note: Note, note_b: Note) -> None:
    operator_client.post(reveal_url(note_b), {"field_names": ["body"], "reason": REASON})

    [event] = reveal_events()
    assert (event.tenant_id, event.chain, event.target_id) == (note_b.tenant_id, str(note_b.tenant_id), str(note_b.pk))
    assert not AuditEvent.objects.filter(chain=str(note.tenant_id)).exists()


def test_a_row_without_a_tenant_is_audited_on_the_operator_chain(operator_device: TotpDevice) -> None:
    assert audit_tenant_id(operator_device) is None
    assert audit_tenant_id(Note(tenant_id=uuid.UUID(int=7))) == uuid.UUID(int=7)


def test_reveal_with_the_role_that_may_reveal(viewer: User, viewer_device: TotpDevice, note: Note) -> None:
    response = client_for(viewer, viewer_device).post(reveal_url(note), {"field_names": ["body"], "reason": REASON})

    assert response.status_code == 200
    assert response.content.decode().count(BODY) == 1
    [event] = reveal_events()
    assert (event.actor_id, event.details["fields"]) == (viewer.pk, "body")


def test_reveal_by_an_auditor_is_forbidden_even_with_every_django_permission(note: Note, tenant_a: Tenant) -> None:
    auditor = User.objects.create_user("auditor@gateway.example", PASSWORD, is_staff=True)
    Membership.objects.create(tenant=tenant_a, user=auditor, role=Role.AUDITOR)
    auditor.user_permissions.set(Permission.objects.filter(content_type__app_label="testapp"))
    client = client_for(auditor, totp_device_provision(user=auditor))

    response = client.post(reveal_url(note), {"field_names": ["body"], "reason": REASON})

    assert response.status_code == 403
    assert_no_secrets(response.content, note)
    assert reveal_events() == []


def test_reveal_by_staff_outside_the_tenant_is_404(note: Note) -> None:
    staff = User.objects.create_user("staff@gateway.example", PASSWORD, is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="testapp"))
    client = client_for(staff, totp_device_provision(user=staff))

    response = client.post(reveal_url(note), {"field_names": ["body"], "reason": REASON})

    assert response.status_code == 404
    assert_no_secrets(response.content, note)
    assert reveal_events() == []


def test_reveal_needs_a_verified_session(viewer: User, viewer_device: TotpDevice, note: Note) -> None:
    client = client_for(viewer, viewer_device, verified_seconds_ago=None)

    response = client.post(reveal_url(note), {"field_names": ["body"], "reason": REASON}, follow=True)

    assert response.redirect_chain[0][0].startswith("/admin/login/")
    assert response.redirect_chain[-1][0].startswith("/account/otp/")
    assert_no_secrets(response.content, note)
    assert reveal_events() == []


def test_reveal_sends_anonymous_users_to_login(note: Note) -> None:
    response = Client().post(reveal_url(note), {"field_names": ["body"], "reason": REASON})

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert reveal_events() == []


def test_reveal_of_an_unknown_row_is_404(operator_client: Client, note: Note) -> None:
    response = operator_client.get(reverse("admin:testapp_note_reveal", args=[uuid.uuid4()]))

    assert response.status_code == 404


# --- values that do not open --------------------------------------------------------------------------


def test_reveal_of_a_value_that_does_not_open(operator_client: Client, note: Note) -> None:
    Note._default_manager.filter(pk=note.pk).update(body=flip_bit(stored(note)["body"], 200))

    response = operator_client.post(reveal_url(note), {"field_names": ["body", "summary"], "reason": REASON})

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count(UNREADABLE) == 1
    assert html.count(SUMMARY) == 1
    assert BODY not in html
    [event] = reveal_events()
    assert event.details == {
        "model": "testapp.Note",
        "object_id": str(note.pk),
        "fields": "body,summary",
        "reason": REASON,
        "failed_fields": "body",
    }


def test_pages_survive_one_flipped_bit_in_each_of_100_values(operator_client: Client, tenant_a: Tenant) -> None:
    notes = [note_create(tenant_a, title=f"Note {index:03d}", marker=f"-{index:03d}") for index in range(100)]
    for index, note in enumerate(notes):
        sealed = stored(note)["body"]
        Note._default_manager.filter(pk=note.pk).update(body=flip_bit(sealed, (index * 37) % (len(sealed) * 8)))

    changelist = operator_client.get(reverse("admin:testapp_note_changelist"))

    assert changelist.status_code == 200
    assert changelist_cells(changelist.content.decode(), "masked_body").count(UNREADABLE) == 100
    assert b"marker-" not in changelist.content
    for note in notes:
        page = operator_client.get(change_url(note))
        html = page.content.decode()
        assert page.status_code == 200, note.pk
        assert readonly_values(html).count(UNREADABLE) == 1
        assert readonly_values(html).count(MASKED) == len(SET_FIELDS) - 1
        assert "marker-" not in html
