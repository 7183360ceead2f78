"""The neutral parts of a parsed Meta webhook body, shared by every platform: problems, Graph errors,
channel events and unparsed items.

Contract: ids are opaque strings, times are aware UTC datetimes, sequences are tuples, and every item
keeps its raw JSON object in ``raw`` (the source of truth for anything not modelled here). Paths read
like ``entry[0].changes[1].messages[2].timestamp``; WhatsApp's ``value`` level is left out of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Literal, TypeAlias

from messaging.providers.jsonread import Json, JsonObject, as_object, get, join, need

PlatformName: TypeAlias = Literal["whatsapp", "messenger", "instagram"]
MessagingPlatform: TypeAlias = Literal["messenger", "instagram"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ParseProblem:
    path: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphError:
    """Meta's error object; the legacy shape carries only ``code`` and ``title``."""

    code: int
    title: str | None = None
    message: str | None = None
    details: str | None = None
    href: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEventItem:
    """A change that is not a conversation event (WhatsApp ``message_template_status_update``, Page ``feed``…)."""

    kind: Literal["channel_event"] = dataclass_field(default="channel_event", init=False)
    platform: PlatformName
    path: str
    account_id: str
    phone_number_id: str | None = None
    field: str
    value: JsonObject

    @property
    def routing_id(self) -> str:
        return self.phone_number_id or self.account_id

    @property
    def is_echo(self) -> bool:
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownItem:
    """An item that failed to parse; its problem is in ``ParsedDelivery.problems`` under the same path prefix."""

    kind: Literal["unknown"] = dataclass_field(default="unknown", init=False)
    platform: PlatformName
    path: str
    routing_id: str | None
    raw: Json

    @property
    def is_echo(self) -> bool:
        return False


def read_graph_error(raw: Json, path: str) -> GraphError:
    error = as_object(raw, path)
    error_data = error.get("error_data")
    details = error_data if isinstance(error_data, str) else None  # template endpoints send a bare string
    if isinstance(error_data, dict):
        details = get(error_data, "details", join(path, "error_data"), str)
    return GraphError(
        code=need(error, "code", path, int),
        title=get(error, "title", path, str),
        message=get(error, "message", path, str),
        details=details,
        href=get(error, "href", path, str),
    )
