"""Messaging in the admin: read-only, every encrypted value masked. Credentials are never revealed;
message content and contact details are, after a step-up and a typed reason (audited)."""

from __future__ import annotations

from typing import TypeVar

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from accounts.admin_encrypted import EncryptedFieldsAdminMixin
from messaging.models import Channel, ChannelEvent, Contact, Message, MetaApp, QuarantinedItem

_ModelT = TypeVar("_ModelT", bound=Model)


class ReadOnlyEncryptedAdmin(EncryptedFieldsAdminMixin[_ModelT]):
    """Rows are written by the pipeline and the provisioning commands, never edited by hand here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: _ModelT | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: _ModelT | None = None) -> bool:
        return False


class CredentialsAdmin(ReadOnlyEncryptedAdmin[_ModelT]):
    """App secrets, verify tokens and access tokens are write-only: masked, and never revealed."""

    def has_reveal_permission(self, request: HttpRequest, obj: _ModelT | None = None) -> bool:
        return False


@admin.register(MetaApp)
class MetaAppAdmin(CredentialsAdmin[MetaApp]):
    list_display = ("name", "tenant", "app_key", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "app_key", "meta_app_id")


@admin.register(Channel)
class ChannelAdmin(CredentialsAdmin[Channel]):
    list_display = ("display_name", "platform", "provider_id", "tenant", "status", "created_at")
    list_filter = ("platform", "status")
    search_fields = ("display_name", "provider_id")


@admin.register(Contact)
class ContactAdmin(ReadOnlyEncryptedAdmin[Contact]):
    list_display = ("id", "tenant", "platform", "is_opted_out", "created_at")
    list_filter = ("platform", "is_opted_out")


@admin.register(Message)
class MessageAdmin(ReadOnlyEncryptedAdmin[Message]):
    list_display = ("id", "tenant", "channel", "direction", "message_type", "status", "provider_timestamp")
    list_filter = ("direction", "status", "message_type", "is_flagged", "is_sent_elsewhere")
    ordering = ("-provider_timestamp",)


@admin.register(QuarantinedItem)
class QuarantinedItemAdmin(ReadOnlyEncryptedAdmin[QuarantinedItem]):
    list_display = ("reason", "platform", "routing_id", "meta_app", "received_at")
    list_filter = ("reason", "platform")
    ordering = ("-received_at",)


@admin.register(ChannelEvent)
class ChannelEventAdmin(admin.ModelAdmin[ChannelEvent]):
    list_display = ("field", "channel", "received_at")
    list_filter = ("field",)
    readonly_fields = ("tenant", "channel", "field", "payload", "fingerprint", "received_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ChannelEvent | None = None) -> bool:
        return False
