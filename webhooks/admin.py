"""The raw ledger and the quarantine in the admin: masked like everything encrypted. Two operator actions,
each audited: requeue failed deliveries (after the cause is fixed), and replay quarantined items (after the
channel that should have claimed them was added). The quarantine's admin lives here because replaying
needs the raw deliveries, and messaging may not depend on webhooks. Rows of a tenant's own app are scoped by
membership role (both actions need the manage capability in the row's tenant); a shared app's are the operator's."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.actors import actor_from_request
from accounts.admin_scope import Area, Capability
from messaging.admin.base import ReadOnlyEncryptedAdmin
from messaging.models import QuarantinedItem
from webhooks.models import Delivery
from webhooks.quarantine import REPLAYED, STILL_QUARANTINED, QuarantineReplayError, quarantined_item_replay
from webhooks.services import deliveries_requeue_failed


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyEncryptedAdmin[Delivery]):
    """The raw ledger: bodies stay masked; revealing one is a step-up, audited action like any content."""

    scope_area = Area.RAW
    tenant_path = "tenant_id"
    list_display = ("received_at", "meta_app", "status", "attempts", "body_bytes", "processed_at")
    list_select_related = ("meta_app",)
    list_filter = ("status",)
    ordering = ("-received_at",)
    actions = ["requeue_failed"]

    def has_requeue_permission(self, request: HttpRequest) -> bool:
        return self.has_capability(request, Capability.MANAGE)

    @admin.action(description="Requeue selected failed deliveries", permissions=["requeue"])
    def requeue_failed(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        self.require_capability(request, Capability.MANAGE, queryset)
        selected = list(queryset.values_list("pk", flat=True))
        requeued = deliveries_requeue_failed(delivery_ids=selected, actor=actor_from_request(request))
        skipped = len(selected) - requeued
        self.message_user(request, f"Requeued {requeued} failed deliver{'y' if requeued == 1 else 'ies'}.")
        if skipped:
            self.message_user(request, f"Left {skipped} alone: only failed deliveries are requeued.", messages.WARNING)


@admin.register(QuarantinedItem)
class QuarantinedItemAdmin(ReadOnlyEncryptedAdmin[QuarantinedItem]):
    scope_area = Area.RAW
    tenant_path = "tenant_id"
    list_display = ("reason", "platform", "routing_id", "meta_app", "received_at", "replayed_at", "replay_outcome")
    list_select_related = ("meta_app",)
    list_filter = ("reason", "platform", ("replayed_at", admin.EmptyFieldListFilter))
    ordering = ("-received_at",)
    actions = ["replay"]

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return self.has_capability(request, Capability.MANAGE)

    @admin.action(description="Replay selected items (after adding their channel)", permissions=["replay"])
    def replay(self, request: HttpRequest, queryset: QuerySet[QuarantinedItem]) -> None:
        self.require_capability(request, Capability.MANAGE, queryset)
        actor = actor_from_request(request)
        counts = {REPLAYED: 0, STILL_QUARANTINED: 0}
        for item_id in queryset.order_by("received_at").values_list("pk", flat=True):
            try:
                result = quarantined_item_replay(item_id=item_id, actor=actor)
            except QuarantineReplayError as error:
                self.message_user(request, str(error), messages.ERROR)
                continue
            counts[result.outcome] = counts.get(result.outcome, 0) + 1
            if result.outcome == STILL_QUARANTINED:
                self.message_user(request, f"{item_id}: {result.message}", messages.WARNING)
        self.message_user(
            request,
            f"Replayed {counts[REPLAYED]} item(s); {counts[STILL_QUARANTINED]} still route nowhere and stay here.",
            messages.SUCCESS if counts[REPLAYED] else messages.INFO,
        )
