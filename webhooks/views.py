"""``GET|POST /webhooks/meta/<app_key>/``: verify, record, answer. No parsing, no Graph call here."""

from __future__ import annotations

import hmac
import logging
import time

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from audit.alerts.detectors.webhooks import webhook_app_key_unknown, webhook_signature_failed
from core.clientip import client_ip
from core.metrics import metric_increment, metric_observe
from core.tenancy import all_tenants
from messaging.models import MetaApp
from webhooks.app_cache import app_known, signed_app
from webhooks.services import delivery_record

logger = logging.getLogger(__name__)

# The metrics' platform label: this route receives Meta's webhooks for WhatsApp, Messenger and Instagram alike,
# and which one a body is for is known only once it is parsed, after the answer.
PLATFORM = "meta"
REFUSAL_OUTCOMES = {411: "length_required", 413: "too_large"}
# Read from META: ``request.headers`` builds a dict of every header on first use, which cost more than the
# signature check itself.
SIGNATURE_HEADER = "HTTP_X_HUB_SIGNATURE_256"
TRANSFER_ENCODING_HEADER = "HTTP_TRANSFER_ENCODING"


def _active_app(app_key: str) -> MetaApp | None:
    return MetaApp.objects.filter(app_key=app_key, is_active=True).first()


@csrf_exempt
@require_http_methods(["GET", "POST"])
@all_tenants()  # the edge finds the app, and so the tenant, from the URL: routing is cross-tenant by nature
def meta_webhook(request: HttpRequest, app_key: str) -> HttpResponse:
    if request.method == "GET":
        return _handshake(request, app_key)
    return _receive(request, app_key)


def _handshake(request: HttpRequest, app_key: str) -> HttpResponse:
    app = _active_app(app_key)
    token = request.GET.get("hub.verify_token", "")
    challenge = request.GET.get("hub.challenge", "")
    if app is None or request.GET.get("hub.mode") != "subscribe" or not challenge:
        return HttpResponse(status=403)
    if not hmac.compare_digest(token.encode(), app.verify_token.encode()):
        return HttpResponse(status=403)
    return HttpResponse(challenge, content_type="text/plain")


def _receive(request: HttpRequest, app_key: str) -> HttpResponse:
    arrived = time.perf_counter()
    try:
        body = _raw_body(request)
    except _BodyRefusedError as refused:
        metric_increment("gateway_webhooks", platform=PLATFORM, outcome=REFUSAL_OUTCOMES[refused.status])
        return HttpResponse(status=refused.status)
    signature = request.META.get(SIGNATURE_HEADER)
    app = signed_app(app_key, body, signature)
    if app is None:
        metric_increment("gateway_webhooks", platform=PLATFORM, outcome="rejected_signature")
        logger.warning("webhook refused: unknown app or bad signature", extra={"app_key": app_key[:32]})
        _refusal_detect(request, app_key)
        return HttpResponse(status=401)  # the same answer for both, so app keys cannot be probed
    delivery_record(meta_app_id=app.pk, tenant_id=app.tenant_id, body=body, signature=signature or "", arrived=arrived)
    metric_observe("gateway_webhook_ack_seconds", time.perf_counter() - arrived, platform=PLATFORM)
    metric_increment("gateway_webhooks", platform=PLATFORM, outcome="accepted")
    return HttpResponse(status=200)


def _refusal_detect(request: HttpRequest, app_key: str) -> None:
    """Feed the detectors: the caller gets the same 401 either way, but a bad signature on a real app and a key
    that names no app are different attacks."""
    known = app_known(app_key)
    if known is None:
        webhook_app_key_unknown(app_key=app_key, ip=client_ip(request))
    else:
        webhook_signature_failed(meta_app_id=known.pk, tenant_id=known.tenant_id)


class _BodyRefusedError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _raw_body(request: HttpRequest) -> bytes:
    """The body's bytes, at most GATEWAY_WEBHOOK_MAX_BYTES (413 past it), with or without a Content-Length."""
    if "chunked" in request.META.get(TRANSFER_ENCODING_HEADER, "").lower():
        return _chunked_body(request)
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > settings.GATEWAY_WEBHOOK_MAX_BYTES:
        raise _BodyRefusedError(413)
    try:
        return request.body
    except RequestDataTooBig:
        raise _BodyRefusedError(413) from None


def _chunked_body(request: HttpRequest) -> bytes:
    """A chunked body has no Content-Length, so Django reads it as empty. Gunicorn de-chunks it and says so with
    ``wsgi.input_terminated`` (its input ends where the body ends): read it from there, one byte past the cap.
    A server that does not (runserver and Django's test client, which read no further than a Content-Length) answers
    411: the sender must give a Content-Length there."""
    if not request.META.get("wsgi.input_terminated"):
        raise _BodyRefusedError(411)
    cap = settings.GATEWAY_WEBHOOK_MAX_BYTES
    body: bytes = request.META["wsgi.input"].read(cap + 1)
    if len(body) > cap:
        raise _BodyRefusedError(413)
    return body
