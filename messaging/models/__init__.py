"""The messaging models, one module per family; Django and every caller import them from here."""

# ruff: noqa: I001
# Not sorted: the app registry keeps the models in the order they are imported here, the order they were
# declared in as one module (key rotation walks their encrypted columns in that order).
from messaging.models.apps_channels import (
    COEXISTENCE_MPS,
    Channel,
    ChannelStatus,
    MetaApp,
    Platform,
    new_app_key,
    secrets_in_force,
)
from messaging.models.contacts import Contact, Conversation, subject_scope
from messaging.models.content import HOLD_SCOPE_PREFIX, content_day_bucket, content_is_expired, hold_scope
from messaging.models.messages import AuthorKind, Direction, Message, MessageStatus
from messaging.models.statuses import PARKED_STATUS_WINDOW, MessageEdit, ParkedReceipt, ParkedStatus, StatusEvent
from messaging.models.webhook_items import ChannelEvent, QuarantinedItem, raw_day_bucket
from messaging.models.media import MediaAttachment, MediaStatus
from messaging.models.sends import (
    IDEMPOTENCY_WINDOW,
    AttemptOutcome,
    ChannelAlert,
    IdempotencyRecord,
    OutboxEntry,
    SendAttempt,
)
from messaging.models.templates import MessageTemplate

__all__ = [
    "COEXISTENCE_MPS",
    "HOLD_SCOPE_PREFIX",
    "IDEMPOTENCY_WINDOW",
    "PARKED_STATUS_WINDOW",
    "AttemptOutcome",
    "AuthorKind",
    "Channel",
    "ChannelAlert",
    "ChannelEvent",
    "ChannelStatus",
    "Contact",
    "Conversation",
    "Direction",
    "IdempotencyRecord",
    "MediaAttachment",
    "MediaStatus",
    "Message",
    "MessageEdit",
    "MessageStatus",
    "MessageTemplate",
    "MetaApp",
    "OutboxEntry",
    "ParkedReceipt",
    "ParkedStatus",
    "Platform",
    "QuarantinedItem",
    "SendAttempt",
    "StatusEvent",
    "content_day_bucket",
    "content_is_expired",
    "hold_scope",
    "new_app_key",
    "raw_day_bucket",
    "secrets_in_force",
    "subject_scope",
]
