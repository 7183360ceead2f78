"""WhatsApp Cloud API adapter."""

from typing import get_args

from messaging.providers.whatsapp.types.contents import MediaType

# The media message types, in and out: an ``image`` … ``sticker`` message carries its file under its type.
MEDIA_TYPES: tuple[MediaType, ...] = get_args(MediaType)
