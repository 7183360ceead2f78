"""Typed Messenger and Instagram items: one per ``messaging[]``/``standby[]`` event."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Literal, TypeAlias, get_args

from messaging.providers.items import MessagingPlatform
from messaging.providers.jsonread import Json, JsonObject

# --- Messenger / Instagram items ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferralInfo:
    ref: str | None = None
    source: str | None = None
    type: str | None = None
    ad_id: str | None = None
    referer_uri: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    type: str
    url: str | None
    payload: JsonObject | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoryReference:
    id: str | None
    url: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingItem:
    """One ``messaging[]``/``standby[]`` event. ``account_id`` (``entry.id``) is the Page / IG account: the route."""

    platform: MessagingPlatform
    path: str
    account_id: str
    sender_id: str | None
    sender_user_ref: str | None = None
    recipient_id: str
    timestamp: datetime
    is_standby: bool = False
    is_echo: bool = False
    raw: JsonObject = dataclass_field(repr=False)

    @property
    def routing_id(self) -> str:
        return self.account_id

    @property
    def business_side(self) -> Literal["sender", "recipient"]:
        """The side that is the Page / IG account: whichever equals ``entry.id``, else the sender of an echo."""
        if self.recipient_id == self.account_id:
            return "recipient"
        if self.sender_id == self.account_id or self.is_echo:
            return "sender"
        return "recipient"

    @property
    def business_id(self) -> str | None:
        return self.sender_id if self.business_side == "sender" else self.recipient_id

    @property
    def user_id(self) -> str | None:
        """The person's PSID / IGSID (or ``user_ref`` for plugin users)."""
        if self.business_side == "sender":
            return self.recipient_id
        return self.sender_id or self.sender_user_ref


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingMessage(MessagingItem):
    kind: Literal["meta.message"] = dataclass_field(default="meta.message", init=False)
    mid: str
    text: str | None = None
    attachments: tuple[Attachment, ...] = ()
    quick_reply_payload: str | None = None
    reply_to_mid: str | None = None
    reply_to_story: StoryReference | None = None
    app_id: str | None = None
    metadata: str | None = None
    referral: ReferralInfo | None = None

    @property
    def is_story_mention(self) -> bool:
        return any(attachment.type == "story_mention" for attachment in self.attachments)

    @property
    def is_story_reply(self) -> bool:
        return self.reply_to_story is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingUnsent(MessagingItem):
    """Instagram ``message.is_deleted``: the user unsent ``mid``."""

    kind: Literal["meta.message_unsent"] = dataclass_field(default="meta.message_unsent", init=False)
    mid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingEdit(MessagingItem):
    kind: Literal["meta.message_edit"] = dataclass_field(default="meta.message_edit", init=False)
    mid: str
    text: str | None
    num_edit: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingPostback(MessagingItem):
    kind: Literal["meta.postback"] = dataclass_field(default="meta.postback", init=False)
    mid: str | None
    title: str | None
    payload: str | None
    referral: ReferralInfo | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingReferral(MessagingItem):
    kind: Literal["meta.referral"] = dataclass_field(default="meta.referral", init=False)
    referral: ReferralInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingDelivery(MessagingItem):
    """Everything sent before ``watermark`` is delivered; ``mids`` is optional."""

    kind: Literal["meta.delivery"] = dataclass_field(default="meta.delivery", init=False)
    mids: tuple[str, ...]
    watermark: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingRead(MessagingItem):
    """Messenger sends ``watermark``; Instagram ``messaging_seen`` sends ``mid``."""

    kind: Literal["meta.read"] = dataclass_field(default="meta.read", init=False)
    watermark: datetime | None
    mid: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingReaction(MessagingItem):
    kind: Literal["meta.reaction"] = dataclass_field(default="meta.reaction", init=False)
    mid: str
    action: str
    reaction: str | None
    emoji: str | None

    @property
    def removed(self) -> bool:
        return self.action == "unreact"


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingOtherEvent(MessagingItem):
    """An event key we do not model (``optin``, ``pass_thread_control``…): kept raw under ``event``."""

    kind: Literal["meta.event"] = dataclass_field(default="meta.event", init=False)
    event: str
    payload: Json


MessagingEvent: TypeAlias = (
    MessagingMessage
    | MessagingUnsent
    | MessagingEdit
    | MessagingPostback
    | MessagingReferral
    | MessagingDelivery
    | MessagingRead
    | MessagingReaction
    | MessagingOtherEvent
)
MESSAGING_EVENT_TYPES = get_args(MessagingEvent)
