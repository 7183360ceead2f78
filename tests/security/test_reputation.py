"""Meta turning against a sender: template rejections in bursts, spam and quality errors in bursts (failed
statuses and send outcomes), and a phone number's quality falling, each raised once per burst."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.utils import timezone

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from audit.alerts.detectors import base as detector_base
from audit.alerts.detectors.reputation import meta_quality_error_observe
from audit.alerts.models import SecurityAlert, Severity, ThresholdOverride
from core.ratelimit import SendBudget
from messaging.channels import channel_add, meta_app_register
from messaging.inbound.accounts import account_notices_store
from messaging.models import Channel, Message, MessageStatus, MessageTemplate
from messaging.outbound.dispatch.calls import CallResult
from messaging.outbound.dispatch.outcomes import outcome_apply
from messaging.outbound.requests import message_send
from messaging.providers.errors import error_policy
from messaging.providers.events import AccountNotice
from messaging.providers.sending import SendRequest
from messaging.statuses import StatusReport, statuses_apply

pytestmark = pytest.mark.django_db

WABA_ID = "102290129340398"
NUMBER = "16505551234"


def _channels(tenant: Tenant, count: int = 2, *, waba_id: str = WABA_ID) -> list[Channel]:
    app = meta_app_register(tenant=tenant, name="app", app_secret="s" * 32, actor=CLI_ACTOR).meta_app
    return [
        channel_add(
            tenant=tenant,
            meta_app=app,
            platform="whatsapp",
            provider_id=f"1{number}0{number}",
            access_token="EAAG" + "t" * 40,
            actor=CLI_ACTOR,
            waba_id=waba_id,
        )
        for number in range(count)
    ]


def _notice(field: str, payload: dict[str, Any], **facts: Any) -> AccountNotice:
    return AccountNotice(
        platform="whatsapp", path="entry.0", routing_id=WABA_ID, raw=payload, field=field, payload=payload, **facts
    )


def _template_news(channels: list[Channel], number: int, event: str) -> None:
    payload = {
        "event": event,
        "message_template_id": 900 + number,
        "message_template_name": f"offer_{number}",
        "message_template_language": "en_US",
        "reason": "INCORRECT_CATEGORY",
    }
    notice = _notice("message_template_status_update", payload, occurred_at=timezone.now() + timedelta(seconds=number))
    account_notices_store([(channels, notice)], timezone.now())


def _templates(tenant: Tenant, count: int) -> None:
    for number in range(count):
        MessageTemplate.objects.create(
            tenant=tenant,
            waba_id=WABA_ID,
            name=f"offer_{number}",
            language="en_US",
            provider_template_id=str(900 + number),
        )


def test_a_burst_of_template_rejections_raises_exactly_one_alert_counting_each_template_once(tenant_a: Tenant):
    ThresholdOverride.objects.create(tenant_id=tenant_a.pk, name="template_rejections", value=3)
    channels = _channels(tenant_a)  # one account, two numbers: each rejection reaches both
    _templates(tenant_a, 5)

    for number in range(5):
        _template_news(channels, number, "REJECTED")
    _template_news(channels, 0, "REJECTED")  # a repeat of a rejection already applied

    [alert] = SecurityAlert.objects.all()
    assert (alert.detector, alert.severity, alert.tenant_id) == ("template_rejections", Severity.MEDIUM, tenant_a.pk)
    assert alert.evidence == {
        "channel_id": str(channels[0].pk),
        "rejections": 3,
        "window_seconds": 86400,
        "last_template_id": "902",
    }
    assert MessageTemplate.objects.filter(status="REJECTED").count() == 5


def test_approvals_and_a_few_rejections_raise_nothing(tenant_a: Tenant):
    channels = _channels(tenant_a)
    _templates(tenant_a, 8)

    for number in range(4):  # the default threshold is 5
        _template_news(channels, number, "REJECTED")
    for number in range(4, 8):
        _template_news(channels, number, "APPROVED")

    assert not SecurityAlert.objects.exists()


def _sent(tenant: Tenant, channel: Channel, number: int) -> Message:
    request = SendRequest(
        channel_id=channel.pk, message_type="template", payload={"name": "offer", "language": "en"}, to=NUMBER
    )
    message = message_send(tenant=tenant, request=request)
    message.provider_message_id = f"wamid.SPAM{number}"
    message.status = MessageStatus.SENT
    message.save(update_fields=["provider_message_id", "provider_message_index", "status"])
    return message


def _failed(channel: Channel, message: Message, code: int) -> StatusReport:
    errors: list[dict[str, object]] = [{"code": code, "title": "Spam rate limit hit"}]
    now = timezone.now()
    return StatusReport(
        channel=channel,
        provider_message_id=message.provider_message_id,
        status="failed",
        provider_timestamp=now,
        received_at=now,
        errors=errors,
    )


def test_a_burst_of_failed_statuses_with_spam_codes_raises_exactly_one_alert(tenant_a: Tenant):
    ThresholdOverride.objects.create(tenant_id=tenant_a.pk, name="meta_quality_errors", value=4)
    [channel] = _channels(tenant_a, 1, waba_id="")  # no stored templates to check the sends against
    messages = [_sent(tenant_a, channel, number) for number in range(8)]

    statuses_apply([_failed(channel, message, 131048 + number % 3) for number, message in enumerate(messages[:6])])
    statuses_apply([_failed(channel, messages[0], 131048)])  # a redelivery records nothing, counts nothing
    statuses_apply([_failed(channel, message, 131026) for message in messages[6:]])  # not a quality code

    [alert] = SecurityAlert.objects.all()
    assert (alert.detector, alert.severity, alert.dedupe_key) == ("meta_quality_errors", Severity.HIGH, str(channel.pk))
    assert alert.evidence["errors"] == 4
    assert alert.evidence["last_message_id"] == str(messages[3].pk)
    assert NUMBER not in json.dumps(alert.evidence)


def test_ordinary_failures_and_a_few_quality_errors_raise_nothing(tenant_a: Tenant):
    [channel] = _channels(tenant_a, 1, waba_id="")
    messages = [_sent(tenant_a, channel, number) for number in range(25)]

    statuses_apply([_failed(channel, message, 131026) for message in messages[:20]])
    statuses_apply([_failed(channel, message, 131049) for message in messages[20:]])  # 5, under the default 20

    assert not SecurityAlert.objects.exists()
    assert (
        meta_quality_error_observe(tenant_id=tenant_a.pk, channel_id=channel.pk, code=131056, message_id=messages[0].pk)
        is None
    )


def test_a_number_flagged_by_meta_raises_one_alert_and_green_news_none(tenant_a: Tenant):
    [channel] = _channels(tenant_a, 1)

    for moment, (event, rating) in enumerate([("UPGRADE", "GREEN"), ("FLAGGED", "RED"), ("FLAGGED", "RED")]):
        payload = {"display_phone_number": NUMBER, "event": event, "current_limit": "TIER_1K"}
        occurred = timezone.now() + timedelta(seconds=moment)
        notice = _notice(
            "phone_number_quality_update", payload, occurred_at=occurred, event=event, quality_rating=rating
        )
        account_notices_store([([channel], notice)], timezone.now())

    [alert] = SecurityAlert.objects.all()
    assert (alert.detector, alert.dedupe_key, alert.occurrences) == ("meta_quality_rating", str(channel.pk), 2)
    assert alert.evidence == {"channel_id": str(channel.pk), "rating": "RED"}


def test_send_outcomes_refused_with_quality_codes_count_towards_the_burst(tenant_a: Tenant):
    ThresholdOverride.objects.create(tenant_id=tenant_a.pk, name="meta_quality_errors", value=3)
    [channel] = _channels(tenant_a, 1, waba_id="")
    messages = [_sent(tenant_a, channel, number) for number in range(4)]
    Message.objects.filter(pk__in=[message.pk for message in messages]).update(status=MessageStatus.SENDING)
    budget = SendBudget(channel_key=f"channel:{channel.pk}", channel_rate=80)

    for message, code in zip(messages, [131026, 131049, 131050, 131049], strict=True):
        message.refresh_from_db()
        result = CallResult(policy=error_policy(code=code, http_status=400), http_status=400, error_code=code)
        outcome_apply(message, result, budget)

    [alert] = SecurityAlert.objects.all()
    assert (alert.detector, alert.evidence["errors"], alert.evidence["last_error_code"]) == (
        "meta_quality_errors",
        3,
        131049,
    )
    assert alert.evidence["last_message_id"] == str(messages[3].pk)


def test_a_redis_outage_leaves_failed_statuses_recorded_and_uncounted(
    tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(**kwargs: Any) -> int:
        raise redis.exceptions.ConnectionError("redis unreachable")

    monkeypatch.setattr(detector_base, "window_count", unreachable)
    ThresholdOverride.objects.create(tenant_id=tenant_a.pk, name="meta_quality_errors", value=1)
    [channel] = _channels(tenant_a, 1, waba_id="")
    message = _sent(tenant_a, channel, 0)

    statuses_apply([_failed(channel, message, 131048)])

    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert not SecurityAlert.objects.exists()
