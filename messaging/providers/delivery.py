"""The result of parsing one Meta webhook body (``ParsedDelivery``), and the ``Collector`` that builds it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeAlias, TypeVar

from messaging.providers.items import ChannelEventItem, ParseProblem, PlatformName, UnknownItem
from messaging.providers.jsonread import Json, JsonObject, PayloadError, array, as_object, join
from messaging.providers.meta_messaging.types import MessagingEvent
from messaging.providers.whatsapp.accounts import AccountUpdate
from messaging.providers.whatsapp.types.coexistence import (
    AddressBookEntry,
    HistoryMessage,
    HistoryProgress,
    MessageEcho,
)
from messaging.providers.whatsapp.types.items import ValueErrorItem
from messaging.providers.whatsapp.types.messages import InboundMessage
from messaging.providers.whatsapp.types.statuses import StatusUpdate

T = TypeVar("T")
P = ParamSpec("P")

DeliveryItem: TypeAlias = (
    InboundMessage
    | StatusUpdate
    | ValueErrorItem
    | MessageEcho
    | HistoryMessage
    | HistoryProgress
    | AddressBookEntry
    | AccountUpdate
    | MessagingEvent
    | ChannelEventItem
    | UnknownItem
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedDelivery:
    object: str | None = None
    platform: PlatformName | None = None
    items: tuple[DeliveryItem, ...] = ()
    problems: tuple[ParseProblem, ...] = ()

    @property
    def has_problems(self) -> bool:
        return bool(self.problems)


class Collector:
    """The mutable side of one parse: items and problems in document order."""

    __slots__ = ("items", "problems")

    def __init__(self) -> None:
        self.items: list[DeliveryItem] = []
        self.problems: list[ParseProblem] = []

    def note(self, error: PayloadError) -> None:
        self.problems.append(ParseProblem(path=error.path, reason=error.reason))

    def attempt(self, parse: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T | None:
        """Run a parser for an optional part: on failure, note the problem and carry on with None."""
        try:
            return parse(*args, **kwargs)
        except PayloadError as error:
            self.note(error)
            return None

    def elements(self, obj: JsonObject, key: str, path: str, *, required: bool = False) -> list[tuple[str, Json]]:
        """Like ``array`` but a wrong type (or a required key missing) is noted, not raised: siblings still parse."""
        if required and obj.get(key) is None:
            self.note(PayloadError(join(path, key), "missing"))
        return self.attempt(array, obj, key, path) or []

    def take(
        self,
        parse: Callable[[JsonObject, str], DeliveryItem],
        raw: Json,
        *,
        path: str,
        platform: PlatformName,
        routing_id: str | None,
    ) -> None:
        try:
            self.items.append(parse(as_object(raw, path), path))
        except PayloadError as error:
            self.reject(error, raw, path=path, platform=platform, routing_id=routing_id)

    def reject(
        self, error: PayloadError, raw: Json, *, path: str, platform: PlatformName, routing_id: str | None
    ) -> None:
        self.note(error)
        self.items.append(UnknownItem(platform=platform, path=path, routing_id=routing_id, raw=raw))

    def result(self, *, object_name: str, platform: PlatformName) -> ParsedDelivery:
        return ParsedDelivery(
            object=object_name, platform=platform, items=tuple(self.items), problems=tuple(self.problems)
        )
