"""Messages their sender takes back."""

from __future__ import annotations

from collections.abc import Sequence

from encryption.blind_index import blind_index_filter
from messaging.inbound.media_storage import media_attachments_discard
from messaging.models import Channel, Direction, Message, MessageEdit


def unsent_blank(unsent: Sequence[tuple[Channel, str]]) -> None:
    """A person who unsends a message takes it back: keep the row and the event, drop its content, its earlier
    versions and its media."""
    for channel, mid in unsent:
        query = blind_index_filter(Message, "provider_message_index", tenant_id=channel.tenant_id, value=mid)
        originals = Message.objects.filter(query, channel=channel, direction=Direction.INBOUND)
        ids = list(originals.values_list("pk", flat=True))
        media_attachments_discard(message_ids=ids)
        MessageEdit.objects.filter(message_id__in=ids).delete()  # its earlier versions go with it
        originals.update(content=None)
