"""Provider adapters (WhatsApp, Messenger, Instagram): payload shapes and Graph calls, never the ORM.

``parse_webhook`` is the one entry point for inbound bodies: it never raises, and dispatches on the
top-level ``object`` through the registry (``messaging.providers.registry``).
"""

from messaging.providers.delivery import ParsedDelivery
from messaging.providers.items import ParseProblem
from messaging.providers.jsonread import PayloadError, decode_json
from messaging.providers.registry import parser_for


def parse_webhook(body: bytes) -> ParsedDelivery:
    """Typed items in document order; bad input yields problems, not exceptions."""
    try:
        document = decode_json(body)
    except PayloadError as error:
        return _refused(error.path, error.reason)
    if not isinstance(document, dict):
        return _refused("body", "expected a JSON object")
    object_name = document.get("object")
    parser = parser_for(object_name) if isinstance(object_name, str) else None
    if parser is None:
        return _refused("object", f"unknown object {str(object_name)[:80]!r}")
    return parser(document)


def _refused(path: str, reason: str) -> ParsedDelivery:
    return ParsedDelivery(problems=(ParseProblem(path=path, reason=reason),))
