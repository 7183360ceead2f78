"""Conversations in the admin: listed by contact and channel, and read as a thread. The thread lists the messages
in the order they happened with their direction, time, status history and attachments (kind, type, size, status:
the files themselves have no admin view). Content stays masked: users whose role may reveal conversations in the
tenant see each message's type and text length and a link to that message's reveal page (a step-up and a reason,
audited); everyone else sees ``•••``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.admin_scope import Area, ReadOnlyMixin, TenantScopedAdmin
from messaging.admin.columns import CONTACT_SEALED, PageKeysMixin, contact_column
from messaging.admin.display import HIDDEN, NAMED_HEADING, contact_label, message_preview, sealed_keys_prefetch
from messaging.models import Conversation, MediaAttachment, Message, StatusEvent, content_is_expired
from messaging.selectors import conversation_messages

THREAD_TEMPLATE = "admin/messaging/conversation/thread.html"
THREAD_PAGE_SIZE = 100


@dataclass(frozen=True)
class ThreadEntry:
    message: Message
    content: str
    reveal_url: str
    statuses: list[StatusEvent]
    attachments: list[MediaAttachment]


@admin.register(Conversation)
class ConversationAdmin(PageKeysMixin[Conversation], ReadOnlyMixin, TenantScopedAdmin[Conversation]):
    scope_area = Area.CONVERSATIONS
    change_form_before_template = NAMED_HEADING
    list_display = (contact_column, "channel", "tenant", "last_inbound_at", "thread", "created_at")
    list_filter = ("channel",)
    list_select_related = ("tenant", "channel", "contact")
    ordering = ("-last_inbound_at",)
    page_sealed = {"contact": CONTACT_SEALED}
    fields = ("tenant", "channel", "contact_display", "last_inbound_at", "created_at", "thread")
    readonly_fields = fields

    @admin.display(description="contact")
    def contact_display(self, obj: Conversation) -> str:
        return contact_label(obj.contact)

    @admin.display(description="messages")
    def thread(self, obj: Conversation) -> SafeString:
        return format_html('<a href="{}">thread</a>', reverse("admin:messaging_conversation_thread", args=[obj.pk]))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        conversation = self.get_object(request, unquote(object_id))
        named = {"subtitle": self._name(conversation)} if conversation is not None else {}
        return super().change_view(request, object_id, form_url, {**named, **(extra_context or {})})

    @staticmethod
    def _name(conversation: Conversation) -> str:
        return f"{contact_label(conversation.contact)} on {conversation.channel}"

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.thread_view)
        return [path("<path:object_id>/thread/", view, name="messaging_conversation_thread"), *super().get_urls()]

    def thread_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        conversation = self.get_object(request, unquote(object_id))
        if conversation is None or not self.has_view_permission(request, conversation):
            raise Http404("No such conversation.")
        paginator = Paginator(conversation_messages(conversation=conversation), THREAD_PAGE_SIZE)
        page = paginator.get_page(request.GET.get("page") or paginator.num_pages)  # the newest first, older back
        messages = list(page.object_list)
        may_reveal = self.has_reveal_permission(request, conversation)
        if may_reveal:
            sealed_keys_prefetch(messages, ("content",))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": conversation,
            "title": f"Thread with {contact_label(conversation.contact)}",
            "subtitle": self._name(conversation),
            "page": page,
            "entries": [self._entry(message, may_reveal=may_reveal) for message in messages],
        }
        response = TemplateResponse(request, THREAD_TEMPLATE, context)
        add_never_cache_headers(response)
        return response

    def _entry(self, message: Message, *, may_reveal: bool) -> ThreadEntry:
        is_revealable = may_reveal and not content_is_expired(message)
        return ThreadEntry(
            message=message,
            content=message_preview(message) if may_reveal else HIDDEN,
            reveal_url=reverse("admin:messaging_message_reveal", args=[message.pk]) if is_revealable else "",
            statuses=list(message.status_events.all()),
            attachments=list(message.attachments.all()),
        )
