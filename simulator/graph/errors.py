"""Graph's errors: the HTTP status and the ``{"error": {...}}`` body Meta answers with, one constructor per case."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from typing import Any


def fbtrace_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(17)).decode()[:23]


@dataclass(frozen=True, slots=True)
class GraphError:
    """One Graph error: the HTTP status and the ``{"error": {...}}`` body Meta would answer with."""

    http_status: int
    code: int
    message: str
    error_type: str = "OAuthException"
    details: str | None = None
    subcode: int | None = None
    messaging_product: str | None = "whatsapp"
    is_transient: bool | None = None

    def body(self) -> bytes:
        error: dict[str, Any] = {"message": self.message, "type": self.error_type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.details is not None:
            error["error_data"] = (
                {"messaging_product": self.messaging_product, "details": self.details}
                if self.messaging_product
                else {"details": self.details}
            )
        if self.is_transient is not None:
            error["is_transient"] = self.is_transient
        error["fbtrace_id"] = fbtrace_id()
        return json.dumps({"error": error}).encode()


def bad_token() -> GraphError:
    return GraphError(401, 190, "Invalid OAuth access token - Cannot parse access token", messaging_product=None)


def unknown_node(node: str, method: str = "POST") -> GraphError:
    message = (
        f"Unsupported {method.lower()} request. Object with ID '{node}' does not exist, cannot be loaded due to "
        "missing permissions, or does not support this operation. Please read the Graph API documentation at "
        "https://developers.facebook.com/docs/graph-api"
    )
    return GraphError(400, 100, message, error_type="GraphMethodException", subcode=33, messaging_product=None)


def unknown_path(path: str) -> GraphError:
    """Graph's answer to a path it has no route for: JSON like every other error, never a plain-text 404."""
    message = f"Unknown path components: {path}"
    return GraphError(400, 2500, message, messaging_product=None)


def unsupported_method(method: str, path: str) -> GraphError:
    message = f"Unsupported {method.lower()} request. The path {path} does not support this operation."
    return GraphError(400, 100, message, error_type="GraphMethodException", messaging_product=None)


def invalid_parameter(details: str, *, messaging_product: str | None = "whatsapp") -> GraphError:
    return GraphError(400, 100, "(#100) Invalid parameter", details=details, messaging_product=messaging_product)


def missing_parameter(details: str) -> GraphError:
    return GraphError(400, 131008, "(#131008) Required parameter is missing", details=details)


def invalid_value(details: str) -> GraphError:
    return GraphError(400, 131009, "(#131009) Parameter value is not valid", details=details)


def throughput_reached() -> GraphError:
    return GraphError(400, 130429, "(#130429) Rate limit hit", details="Cloud API message throughput has been reached.")


def pair_rate_reached() -> GraphError:
    details = (
        "Message failed to send because there were too many messages sent from this phone number to the same "
        "phone number in a short period of time."
    )
    return GraphError(
        400, 131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit", details=details
    )


def outside_window() -> GraphError:
    details = (
        "Message failed to send because more than 24 hours have passed since the customer last replied to this number."
    )
    return GraphError(400, 131047, "(#131047) Re-engagement message", details=details)


def messenger_outside_window() -> GraphError:
    message = (
        "(#10) This message is sent outside of allowed window. Learn more about the new policy here: "
        "https://developers.facebook.com/docs/messenger-platform/policy-overview"
    )
    return GraphError(400, 10, message, subcode=2018278, messaging_product=None)


def messenger_rate_limited() -> GraphError:
    return GraphError(400, 613, "(#613) Calls to this API have exceeded the rate limit.", messaging_product=None)


def messenger_invalid(message: str) -> GraphError:
    return GraphError(400, 100, f"(#100) {message}", messaging_product=None)


def server_error(http_status: int) -> GraphError:
    message = "An unexpected error has occurred. Please retry your request later."
    return GraphError(http_status, 2, message, messaging_product=None, is_transient=True)


def media_not_found(media_id: str, method: str) -> GraphError:
    return unknown_node(media_id, method)


def invalid_read_receipt(message_id: str) -> GraphError:
    """Mark-as-read of an id that is no inbound message of this number; the id is not echoed back."""
    del message_id
    return invalid_value("Invalid message_id: it is not the id of a message this phone number received.")


def recipient_not_supported() -> GraphError:
    return invalid_parameter("Param recipient (a business-scoped user id) is not available for this phone number.")
