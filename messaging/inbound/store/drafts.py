"""A message about to be stored, read from the neutral event that carries it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from messaging.contacts import ContactWanted
from messaging.models import Channel, Direction, MessageStatus
from messaging.providers.events import MediaSource, MessageEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDraft:
    """A message about to be stored, with the person it is with and the files it refers to."""

    person: ContactWanted
    direction: str
    message_type: str
    status: str
    provider_message_id: str
    provider_timestamp: datetime
    content: object
    is_flagged: bool = False
    is_sent_elsewhere: bool = False
    is_historical: bool = False
    media: tuple[MediaSource, ...] = ()
    changed_to: ContactWanted | None = None  # the person's new number, when this says they changed it

    @property
    def channel(self) -> Channel:
        return self.person.channel


def message_draft(channel: Channel, event: MessageEvent) -> MessageDraft:
    person = event.person
    return MessageDraft(
        person=ContactWanted(
            channel=channel,
            external_id=person.external_id,
            profile={"name": person.profile_name} if person.profile_name else None,
            business_user_id=person.business_user_id,
            seen_at=event.provider_timestamp,
        ),
        changed_to=ContactWanted(channel=channel, external_id=person.changed_to) if person.changed_to else None,
        direction=Direction.OUTBOUND if event.is_echo else Direction.INBOUND,
        message_type=event.message_type,
        status=event.status or (MessageStatus.SENT if event.is_echo else MessageStatus.RECEIVED),
        provider_message_id=event.provider_message_id,
        provider_timestamp=event.provider_timestamp,
        content=event.content,
        is_flagged=event.is_flagged,
        is_sent_elsewhere=event.is_echo,
        is_historical=event.is_historical,
        media=event.media,
    )
