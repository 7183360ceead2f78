"""Provider adapters (WhatsApp, Messenger, Instagram): payload shapes and Graph calls, never the ORM.

``parse_webhook`` is the one entry point for inbound bodies: it never raises, and dispatches on the
top-level ``object`` through an explicit table.
"""

from collections.abc import Callable
from functools import partial

from messaging.providers.delivery import ParsedDelivery
from messaging.providers.items import ParseProblem
from messaging.providers.jsonread import JsonObject, PayloadError, decode_json
from messaging.providers.meta_messaging.parse import parse_meta_messaging
from messaging.providers.whatsapp.parse import parse_whatsapp

# The version (``"v"``) of the normalised send content in ``Message.content``: messaging.outbound writes it,
# each adapter's ``graph_request`` reads only this version.
CONTENT_VERSION = 1

PARSERS: dict[str, Callable[[JsonObject], ParsedDelivery]] = {
    "whatsapp_business_account": parse_whatsapp,
    "page": partial(parse_meta_messaging, platform="messenger"),
    "instagram": partial(parse_meta_messaging, platform="instagram"),
}


def parse_webhook(body: bytes) -> ParsedDelivery:
    """Typed items in document order; bad input yields problems, not exceptions."""
    try:
        document = decode_json(body)
    except PayloadError as error:
        return _refused(error.path, error.reason)
    if not isinstance(document, dict):
        return _refused("body", "expected a JSON object")
    object_name = document.get("object")
    parser = PARSERS.get(object_name) if isinstance(object_name, str) else None
    if parser is None:
        return _refused("object", f"unknown object {str(object_name)[:80]!r}")
    return parser(document)


def _refused(path: str, reason: str) -> ParsedDelivery:
    return ParsedDelivery(problems=(ParseProblem(path=path, reason=reason),))
