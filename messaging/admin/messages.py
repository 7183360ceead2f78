"""Messages in the admin: read-only and masked; content is revealed after a step-up unless retention expired
it. Inline: the message's media (status, type and size only: the source reference and the announced hash are
content, and the bytes have no admin view at all) and its send attempts (codes, titles and timings only: the
attempt ledger never holds a body, a token or Meta's free text)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.admin_encrypted import masked_name, masked_value
from accounts.admin_scope import Area
from messaging.admin.base import ReadOnlyInline
from messaging.admin.columns import CONTACT_SEALED, PreviewColumnMixin, contact_column
from messaging.admin.display import EXPIRED
from messaging.admin.search import BlindIndexSearchAdmin
from messaging.models import MediaAttachment, Message, SendAttempt, content_is_expired

ATTEMPT_FIELDS = (
    "number",
    "started_at",
    "finished_at",
    "outcome",
    "http_status",
    "error_code",
    "error_title",
    "fbtrace_id",
)
MEDIA_FIELDS = ("position", "kind", "status", "mime_type", "size", "attempts", "last_error_code", "stored_at")
EXPIRED_REFUSAL = "This message's content expired under the tenant's retention policy: it is never revealed."


class MediaAttachmentInline(ReadOnlyInline):
    model = MediaAttachment
    fields = MEDIA_FIELDS
    readonly_fields = MEDIA_FIELDS
    ordering = ("position",)


class SendAttemptInline(ReadOnlyInline):
    model = SendAttempt
    fields = ATTEMPT_FIELDS
    readonly_fields = ATTEMPT_FIELDS
    ordering = ("number",)


@admin.register(Message)
class MessageAdmin(PreviewColumnMixin[Message], BlindIndexSearchAdmin[Message]):
    scope_area = Area.CONVERSATIONS
    list_display = (
        "provider_timestamp",
        "direction",
        "message_type",
        "status",
        contact_column,
        "channel",
        "tenant",
        "preview",
    )
    list_select_related = ("tenant", "channel", "contact")
    page_sealed = {"": ("content",), "contact": CONTACT_SEALED}
    list_filter = ("direction", "status", "message_type", "is_flagged", "is_sent_elsewhere", "is_historical")
    ordering = ("-provider_timestamp",)
    blind_index_field = "provider_message_index"
    search_help_text = "Exact provider message id (wamid… or mid…), or the row id."
    inlines = [MediaAttachmentInline, SendAttemptInline]
    readonly_fields = ("thread",)

    @admin.display(description="conversation")
    def thread(self, obj: Message) -> SafeString:
        url = reverse("admin:messaging_conversation_thread", args=[obj.conversation_id])
        return format_html('<a href="{}">the thread</a>', url)

    def __init__(self, model: type[Message], admin_site: admin.AdminSite) -> None:
        super().__init__(model, admin_site)
        field = self.encrypted_fields_by_name["content"]

        @admin.display(description=field.verbose_name)
        def content_display(obj: Message) -> str:
            return EXPIRED if content_is_expired(obj) else masked_value(obj, field)

        setattr(self, masked_name("content"), content_display)

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        obj = kwargs.get("obj")  # Django passes it by name
        if isinstance(obj, Message) and content_is_expired(obj):
            context["can_reveal"] = False
        return super().render_change_form(request, context, *args, **kwargs)

    def reveal_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and content_is_expired(obj):
            self.message_user(request, EXPIRED_REFUSAL, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:messaging_message_change", args=[obj.pk]))
        return super().reveal_view(request, object_id)
