"""The webhook fields of a coexistence number (one number on both the WhatsApp Business app and Cloud API):
``smb_message_echoes`` (what the business sent from its app), ``history`` (the app's past chats, imported
once, in chunks) and ``smb_app_state_sync`` (the app's address book).

Each element becomes one item, like ``messages``: a broken one becomes an ``UnknownItem`` plus a problem.
People are named by their number as digits (the wa_id inbound messages use), whatever way Meta writes it.
"""

from __future__ import annotations

from collections.abc import Callable

from core.phones import normalize_e164
from messaging.providers.delivery import Collector
from messaging.providers.items import read_graph_error
from messaging.providers.jsonread import (
    Json,
    JsonObject,
    PayloadError,
    as_object,
    get,
    get_id,
    join,
    need,
    need_id,
    need_time,
)
from messaging.providers.whatsapp.contents import message_content
from messaging.providers.whatsapp.types.coexistence import (
    AddressBookEntry,
    HistoryChunk,
    HistoryMessage,
    HistoryProgress,
    MessageEcho,
)
from messaging.providers.whatsapp.types.items import ChannelRoute, ValueErrorItem

_COUNT_DIGITS = 9  # phase, chunk order and progress are small numbers
FieldParser = Callable[[JsonObject, str, ChannelRoute, Collector], None]


def wa_id_of(value: str) -> str:
    """A person's number as the digits of a wa_id (``+1 650-555-1234`` → ``16505551234``); anything that is
    not a phone number (a business-scoped user id) is kept as sent."""
    try:
        return normalize_e164(value).removeprefix("+")
    except ValueError:
        return value


def _need_person(obj: JsonObject, key: str, path: str) -> str:
    return wa_id_of(need_id(obj, key, path))


# --- smb_message_echoes ---------------------------------------------------------------------------


def echoes_parse(value: JsonObject, path: str, channel: ChannelRoute, out: Collector) -> None:
    routing_id = channel["phone_number_id"]
    for item_path, raw in out.elements(value, "message_echoes", path, required=True):
        out.take(
            lambda echo, at: _echo(echo, at, channel, out),
            raw,
            path=item_path,
            platform="whatsapp",
            routing_id=routing_id,
        )


def _echo(echo: JsonObject, path: str, channel: ChannelRoute, out: Collector) -> MessageEcho:
    message_type = need(echo, "type", path, str)
    return MessageEcho(
        **channel,
        path=path,
        id=need_id(echo, "id", path),
        to=_need_person(echo, "to", path),
        timestamp=need_time(echo, "timestamp", path, unit="s"),
        type=message_type,
        content=message_content(echo, message_type, path, out),
        raw=echo,
    )


# --- history --------------------------------------------------------------------------------------


def history_parse(value: JsonObject, path: str, channel: ChannelRoute, out: Collector) -> None:
    """Each chunk's threads' messages, or its ``errors`` (the business declined to share its history)."""
    routing_id = channel["phone_number_id"]
    for chunk_path, raw_chunk in out.elements(value, "history", path, required=True):
        try:
            chunk_object = as_object(raw_chunk, chunk_path)
            chunk = _chunk(chunk_object, chunk_path)
        except PayloadError as error:
            out.reject(error, raw_chunk, path=chunk_path, platform="whatsapp", routing_id=routing_id)
            continue
        for error_path, raw_error in out.elements(chunk_object, "errors", chunk_path):
            out.take(
                lambda error, at: ValueErrorItem(
                    **channel, path=at, error=read_graph_error(error, at), field="history", raw=error
                ),
                raw_error,
                path=error_path,
                platform="whatsapp",
                routing_id=routing_id,
            )
        threads = out.elements(chunk_object, "threads", chunk_path)
        if "metadata" in chunk_object:
            out.items.append(_progress(chunk_object, chunk_path, chunk, threads, channel))
        for thread_path, raw_thread in threads:
            _thread(raw_thread, thread_path, chunk, channel, out)


def _progress(
    chunk_object: JsonObject, path: str, chunk: HistoryChunk, threads: list[tuple[str, Json]], channel: ChannelRoute
) -> HistoryProgress:
    """The chunk's place and size (its messages counted as sent, broken ones too); never its content."""
    messages = sum(
        len(thread["messages"])
        for _, thread in threads
        if isinstance(thread, dict) and isinstance(thread.get("messages"), list)
    )
    metadata = chunk_object["metadata"]
    return HistoryProgress(
        **channel, path=join(path, "metadata"), chunk=chunk, threads=len(threads), messages=messages, raw=metadata
    )


def _chunk(chunk: JsonObject, path: str) -> HistoryChunk:
    metadata = get(chunk, "metadata", path, dict) or {}
    metadata_path = join(path, "metadata")
    return HistoryChunk(
        phase=_count(metadata, "phase", metadata_path),
        chunk_order=_count(metadata, "chunk_order", metadata_path),
        progress=_count(metadata, "progress", metadata_path),
    )


def _count(obj: JsonObject, key: str, path: str) -> int | None:
    """A small count Meta sends as a number (or, in some relays, a string of digits)."""
    text = get_id(obj, key, path)
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > _COUNT_DIGITS:
        raise PayloadError(join(path, key), "expected a whole number")
    return int(text)


def _thread(raw: Json, path: str, chunk: HistoryChunk, channel: ChannelRoute, out: Collector) -> None:
    routing_id = channel["phone_number_id"]
    try:
        thread_id = _need_person(as_object(raw, path), "id", path)
    except PayloadError as error:
        out.reject(error, raw, path=path, platform="whatsapp", routing_id=routing_id)
        return
    for message_path, raw_message in out.elements(raw, "messages", path, required=True):
        out.take(
            lambda message, at: _history_message(message, at, thread=(thread_id, chunk), channel=channel, out=out),
            raw_message,
            path=message_path,
            platform="whatsapp",
            routing_id=routing_id,
        )


def _history_message(
    message: JsonObject, path: str, *, thread: tuple[str, HistoryChunk], channel: ChannelRoute, out: Collector
) -> HistoryMessage:
    """The user's messages come ``from`` the thread's number; the business's ``from`` its own, ``to`` the user."""
    thread_id, chunk = thread
    sender = _need_person(message, "from", path)
    message_type = need(message, "type", path, str)
    context = get(message, "history_context", path, dict) or {}
    return HistoryMessage(
        **channel,
        path=path,
        id=need_id(message, "id", path),
        thread_id=thread_id,
        from_business=sender != thread_id,
        timestamp=need_time(message, "timestamp", path, unit="s"),
        type=message_type,
        content=message_content(message, message_type, path, out),
        status=get(context, "status", join(path, "history_context"), str),
        chunk=chunk,
        raw=message,
    )


# --- smb_app_state_sync ---------------------------------------------------------------------------


def state_sync_parse(value: JsonObject, path: str, channel: ChannelRoute, out: Collector) -> None:
    """Address book changes; a state of another ``type`` than ``contact`` is not modelled: kept as a problem."""
    routing_id = channel["phone_number_id"]
    for item_path, raw in out.elements(value, "state_sync", path, required=True):
        out.take(
            lambda state, at: _address_book_entry(state, at, channel),
            raw,
            path=item_path,
            platform="whatsapp",
            routing_id=routing_id,
        )


def _address_book_entry(state: JsonObject, path: str, channel: ChannelRoute) -> AddressBookEntry:
    state_type = need(state, "type", path, str)
    if state_type != "contact":
        raise PayloadError(join(path, "type"), f"unmodelled state {state_type[:40]!r}")
    action = need(state, "action", path, str)
    if action not in ("add", "remove"):
        raise PayloadError(join(path, "action"), f"unknown action {action[:40]!r}")
    contact_path = join(path, "contact")
    contact = as_object(state.get("contact"), contact_path)
    metadata_path = join(path, "metadata")
    return AddressBookEntry(
        **channel,
        path=path,
        wa_id=_need_person(contact, "phone_number", contact_path),
        action=action,
        full_name=get(contact, "full_name", contact_path, str),
        first_name=get(contact, "first_name", contact_path, str),
        timestamp=need_time(as_object(state.get("metadata"), metadata_path), "timestamp", metadata_path, unit="s"),
        raw=state,
    )


COEXISTENCE_FIELDS: dict[str, FieldParser] = {
    "smb_message_echoes": echoes_parse,
    "history": history_parse,
    "smb_app_state_sync": state_sync_parse,
}
