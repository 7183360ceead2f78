"""``POST /api/v1/messages/`` (send) and ``POST /api/v1/messages/<id>/cancel/``, scope ``messages:send``.

Answers:
- 202: queued (or scheduled); the body names the message, never its content.
- 400 ``invalid_request``: the body does not match the schema (types, required fields, choices, one-of):
  ``errors`` lists each field's errors.
- 404: the channel or contact is not this tenant's (the same answer as an unknown id).
- 409 ``idempotency_key_reused``: the Idempotency-Key was used with another body.
- 422 ``validation_failed``: a well-formed request that breaks a rule; ``rule`` is a stable code
  (``messaging.providers.sending.SendRule``) and ``field`` names the offending field when there is one.

Every error is a problem document (core.api_errors); ``code`` is the code named above.

Idempotency-Key (Stripe's semantics, per tenant): the same key with the same body (SHA-256 of its canonical
JSON) answers the first response again (same status and body, with ``Idempotent-Replayed: true``) and queues
nothing; another body answers 409. Only a 202 is recorded: a 400, 404 or 422 wrote nothing, and whether it
passes can change (a channel resumed, a contact wrote and opened the window), so retrying the same key
evaluates the request again, as Stripe does for requests that failed validation before doing any work. A record
is kept ``IDEMPOTENCY_WINDOW`` (24 hours, as Stripe), then the retention purge deletes it.
"""

from __future__ import annotations

import hashlib
import json
import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_auth import api_client, scope_required
from accounts.models import ApiScope, Tenant
from accounts.rate_limits import SENDS
from core.api_errors import INVALID_REQUEST, problem_response
from core.api_schema import invalid_request, problem, problem_responses
from messaging.api import MessageListApi
from messaging.models import IdempotencyRecord, Message
from messaging.outbound.requests import (
    IdempotencyClaim,
    IdempotencyKeyTakenError,
    MessageNotCancellableError,
    SendReferenceNotFoundError,
    message_cancel,
    message_send,
    send_receipt,
)
from messaging.outbound.serializers import (
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_KEY_MAX,
    IDEMPOTENCY_PARAMETER,
    REPLAYED_HEADER,
    RULES_DOCUMENTED,
    SendConflictSerializer,
    SendReceiptSerializer,
    SendRequestSerializer,
    SendRuleErrorSerializer,
)
from messaging.outbound.watch import send_watch
from messaging.providers.sending import SendRuleError


def _rule_error(error: SendRuleError) -> Response:
    return problem_response(
        status.HTTP_422_UNPROCESSABLE_ENTITY,
        "validation_failed",
        error.detail,
        rule=error.rule.value,
        field=error.field,
    )


def request_sha256(data: object) -> str:
    """The body's fingerprint: canonical JSON (sorted keys, no spaces), so key order and spacing do not matter."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(tenant: Tenant, claim: IdempotencyClaim) -> Response | None:
    record = IdempotencyRecord.objects.filter(tenant=tenant, key=claim.key).first()
    if record is None:
        return None
    if record.request_sha256 != claim.request_sha256:
        return problem_response(
            status.HTTP_409_CONFLICT,
            "idempotency_key_reused",
            "This Idempotency-Key was used with another request body; use a new key for a new request.",
        )
    return Response(record.response_body, status=record.response_status, headers={REPLAYED_HEADER: "true"})


SEND_SCOPE = scope_required(ApiScope.MESSAGES_SEND)
READ_SCOPE = scope_required(ApiScope.MESSAGES_READ)


class MessageCollectionApi(MessageListApi):
    """``/messages/``: GET lists (``messaging.api.MessageListApi``, ``messages:read``), POST sends
    (``messages:send``), counted in the ``sends`` rate limit."""

    rate_limit_class = SENDS

    def get_permissions(self) -> list[BasePermission]:
        scope = SEND_SCOPE if self.request.method == "POST" else READ_SCOPE
        return [IsAuthenticated(), scope()]

    @extend_schema(
        operation_id="messages_send",
        description="Queue one message (requires `messages:send`). WhatsApp: text, template, media by uploaded id "
        "or https link, interactive buttons and lists, reactions, mark-as-read, replies (`context`). Messenger and "
        "Instagram: text with quick replies, attachments, `messaging_type` and tags. Optional `send_at` schedules "
        "it. The 202 means queued, not sent: follow the message's status.\n\n"
        "Shape errors answer 400; well-formed requests that break a rule answer 422 with one of these `rule` "
        f"codes:\n\n{RULES_DOCUMENTED}",
        request=SendRequestSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            202: SendReceiptSerializer,
            **problem_responses(
                {
                    400: invalid_request("Malformed body or Idempotency-Key (`invalid_request`)."),
                    404: "No such channel or contact in this tenant (`not_found`).",
                    409: problem(
                        "The Idempotency-Key was used with another body (`idempotency_key_reused`).",
                        SendConflictSerializer,
                    ),
                    422: problem("A send rule is broken (`validation_failed`); see `rule`.", SendRuleErrorSerializer),
                },
                has_body=True,
            ),
        },
    )
    def post(self, request: Request) -> Response:
        client = api_client(request)
        tenant = client.tenant
        key = request.headers.get(IDEMPOTENCY_HEADER)
        claim = None
        if key is not None:
            if not key or len(key) > IDEMPOTENCY_KEY_MAX:
                return problem_response(
                    status.HTTP_400_BAD_REQUEST,
                    INVALID_REQUEST,
                    f"{IDEMPOTENCY_HEADER} must be 1 to {IDEMPOTENCY_KEY_MAX} characters.",
                    errors=[],
                )
            claim = IdempotencyClaim(key=key, request_sha256=request_sha256(request.data))
            replayed = _replay(tenant, claim)
            if replayed is not None:
                return replayed
        serializer = SendRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            message = message_send(tenant=tenant, request=serializer.send_request(), idempotency=claim)
        except SendReferenceNotFoundError:
            raise NotFound from None
        except SendRuleError as error:
            return _rule_error(error)
        except IdempotencyKeyTakenError:
            assert claim is not None  # noqa: S101 - only raised with a claim
            replayed = _replay(tenant, claim)
            if replayed is None:  # pragma: no cover - the winner committed before we could fail on its key
                raise
            return replayed
        send_watch(message=message, api_key=client.api_key)
        return Response(send_receipt(message), status=status.HTTP_202_ACCEPTED)


class MessageCancelApi(APIView):
    permission_classes = [IsAuthenticated, scope_required(ApiScope.MESSAGES_SEND)]

    @extend_schema(
        operation_id="messages_cancel",
        description="Cancel a queued message, scheduled or not (requires `messages:send`). A message a worker has "
        "started sending, or that Meta has, cannot be cancelled.",
        request=None,
        responses={
            200: SendReceiptSerializer,
            **problem_responses(
                {
                    404: "No such message in this tenant (`not_found`).",
                    409: problem("The message is not queued (`not_cancellable`).", SendConflictSerializer),
                }
            ),
        },
    )
    def post(self, request: Request, message_id: uuid.UUID) -> Response:
        try:
            message = message_cancel(tenant=api_client(request).tenant, message_id=message_id)
        except Message.DoesNotExist:
            raise NotFound from None
        except MessageNotCancellableError as error:
            return problem_response(
                status.HTTP_409_CONFLICT,
                "not_cancellable",
                f"The message is {error.status}; only queued messages can be cancelled.",
                message_status=error.status,
            )
        return Response(send_receipt(message))
