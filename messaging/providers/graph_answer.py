"""Reading Graph's answer to a send (the same shape on every platform): the provider's message id of an
acceptance; of a refusal, Meta's error code, subcode and trace id, and when to try again. Codes and ids only,
never Meta's text: what a refusal means is ``messaging.providers.errors``' table."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime

from core.http import HttpResponse


@dataclass(frozen=True, slots=True)
class GraphAnswer:
    """What an answer says: ``is_success`` (a 2xx) with the provider's id, or the error's codes."""

    is_success: bool
    http_status: int
    provider_message_id: str | None = None
    error_code: int | None = None
    error_subcode: int | None = None
    fbtrace_id: str = ""
    retry_after_seconds: float | None = None


def graph_answer_read(response: HttpResponse) -> GraphAnswer:
    """The answer's ids and codes; a body that is not JSON, or not of Graph's shape, reads as no id and no code."""
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.is_success:
        return GraphAnswer(True, response.status, provider_message_id=_provider_message_id(answer))
    error = answer.get("error") if isinstance(answer, dict) else None
    error = error if isinstance(error, dict) else {}
    trace = error.get("fbtrace_id")
    return GraphAnswer(
        False,
        response.status,
        error_code=error.get("code") if isinstance(error.get("code"), int) else None,
        error_subcode=error.get("error_subcode") if isinstance(error.get("error_subcode"), int) else None,
        fbtrace_id=trace[:64] if isinstance(trace, str) else "",
        retry_after_seconds=_retry_after(response.headers.get("retry-after", "")),
    )


def _provider_message_id(answer: object) -> str | None:
    """``messages[0].id`` (WhatsApp) or ``message_id`` (Messenger/Instagram); None for mark-as-read."""
    if not isinstance(answer, dict):
        return None
    messages = answer.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        value = messages[0].get("id")
    else:
        value = answer.get("message_id")
    return value if isinstance(value, str) and value else None


def _retry_after(value: str) -> float | None:
    """Seconds, or an HTTP date (RFC 9110 §10.2.3)."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment.astimezone(UTC) - datetime.now(UTC)).total_seconds())
