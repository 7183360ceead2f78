"""Errors Meta reports after accepting a send: a ``failed`` status webhook carrying ``errors[]``.

A send to a recipient marked here is answered 200 like any other; instead of ``delivered`` and
``read`` its status webhooks say ``failed`` with the configured code (META-SPEC §4.3, §8). Marks are
set per channel over ``POST /_sim/failures`` and cleared with ``DELETE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ERROR_CODES_HREF = "/documentation/business-messaging/whatsapp/support/error-codes"


@dataclass(frozen=True, slots=True)
class Failure:
    code: int
    title: str
    details: str
    after_sent: bool

    def error(self) -> dict[str, Any]:
        """One ``statuses[].errors[]`` item as Meta sends it."""
        return {
            "code": self.code,
            "title": self.title,
            "message": self.title,
            "error_data": {"details": self.details},
            "href": ERROR_CODES_HREF,
        }


FAILURES = {
    failure.code: failure
    for failure in (
        Failure(
            131026,
            "Message undeliverable",
            "Unable to deliver message. Reasons can include: the recipient phone number is not a WhatsApp phone "
            "number; the recipient has not accepted our new Terms of Service and Privacy Policy; the recipient "
            "is using an old WhatsApp version.",
            after_sent=False,
        ),
        Failure(
            131049,
            "This message was not delivered to maintain healthy ecosystem engagement.",
            "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
            after_sent=False,
        ),
        Failure(
            130472,
            "User's number is part of an experiment",
            "Failed to send message because this user's phone number is part of an experiment.",
            after_sent=False,
        ),
        Failure(
            131047,
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to "
            "this number.",
            after_sent=False,
        ),
        Failure(
            131050,
            "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on "
            "WhatsApp from your business.",
            "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on "
            "WhatsApp from your business.",
            after_sent=False,
        ),
        Failure(
            131053,
            "Media upload error",
            "Unable to upload the media used in the message.",
            after_sent=False,
        ),
        Failure(
            131000,
            "Something went wrong",
            "Message failed to send due to an unknown error.",
            after_sent=True,
        ),
    )
}


class FailureBook:
    """Recipients whose accepted sends fail later, per channel: ``{provider_id: {user key: Failure}}``."""

    def __init__(self) -> None:
        self.by_channel: dict[str, dict[str, Failure]] = {}

    def mark(self, provider_id: str, recipients: list[str], failure: Failure) -> None:
        marks = self.by_channel.setdefault(provider_id, {})
        for recipient in recipients:
            marks[recipient] = failure

    def failure_for(self, provider_id: str, *keys: str | None) -> Failure | None:
        marks = self.by_channel.get(provider_id)
        if not marks:
            return None
        return next((marks[key] for key in keys if key is not None and key in marks), None)

    def public(self) -> dict[str, dict[str, int]]:
        return {
            provider_id: {recipient: failure.code for recipient, failure in marks.items()}
            for provider_id, marks in self.by_channel.items()
        }

    def clear(self) -> None:
        self.by_channel.clear()
