"""What every item of a WhatsApp change carries (its route), and the value errors of a phone number."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Literal, TypedDict

from messaging.providers.items import GraphError
from messaging.providers.jsonread import JsonObject


class ChannelRoute(TypedDict):
    """The number a change is about: ``entry.id`` and the change's ``metadata``."""

    waba_id: str
    phone_number_id: str
    display_phone_number: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class WhatsAppItem:
    """Routing: ``phone_number_id`` of the change, ``waba_id`` from ``entry.id``."""

    path: str
    waba_id: str
    phone_number_id: str
    display_phone_number: str | None
    raw: JsonObject = dataclass_field(repr=False)

    @property
    def platform(self) -> Literal["whatsapp"]:
        return "whatsapp"

    @property
    def routing_id(self) -> str:
        return self.phone_number_id

    @property
    def is_echo(self) -> bool:
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class ValueErrorItem(WhatsAppItem):
    """One entry of ``value.errors[]``: an out-of-band platform error for the phone number; ``field`` is
    ``history`` for the error of a chat history the business declined to share."""

    kind: Literal["whatsapp.error"] = dataclass_field(default="whatsapp.error", init=False)
    error: GraphError
    field: str = "errors"
