"""Exports under abuse: a read-only key cannot ask for one, an exporting key gets at most its ``exports`` rate,
and a contact has at most one export queued or being built (the database says so, the API answers 409)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR
from accounts.models import ApiScope
from messaging.models import Channel
from policies.models import ExportStatus, SubjectExport
from policies.subjects.export import SubjectExportRunningError, subject_export_build, subject_export_request
from tests.accounts.test_redis_down import redis_down
from tests.policies.subject_support import Customer, customer_create, media_root

__all__ = ["media_root", "redis_down"]

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

FUZZ_REQUESTS = 200


@pytest.fixture(autouse=True)
def export_limits(settings: Any) -> None:
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "exports": "10/3600"}
    settings.API_TENANT_RATE_LIMITS = {**settings.API_TENANT_RATE_LIMITS, "exports": "50/3600"}


@pytest.fixture
def customers(channel_a: Channel) -> list[Customer]:
    return [customer_create(channel_a) for _ in range(3)]


def _export_url(customer: Customer) -> str:
    return f"/api/v1/contacts/{customer.contact.pk}/export/"


def test_a_read_only_key_asking_for_exports_200_times_makes_none(
    api_client: Callable[..., APIClient], customers: list[Customer]
) -> None:
    reader = api_client(customers[0].tenant, ApiScope.CONTACTS_READ, ApiScope.MESSAGES_READ)

    answers = [reader.post(_export_url(customers[index % 3])) for index in range(FUZZ_REQUESTS)]

    assert Counter(answer.status_code for answer in answers) == {403: FUZZ_REQUESTS}
    assert answers[0].json()["code"] == "insufficient_scope"
    assert not SubjectExport.objects.exists()


def test_an_exporting_key_gets_its_rate_and_never_two_running_exports_of_a_contact(
    api_client: Callable[..., APIClient], customers: list[Customer]
) -> None:
    """The fuzzer with the right scope: nothing is built meanwhile, so each contact's first export is still
    running when the next request for it comes (409); after the key's 10 per hour, 429."""
    exporter = api_client(customers[0].tenant, ApiScope.CONTACTS_EXPORT)

    answers = [exporter.post(_export_url(customers[index % 3])) for index in range(FUZZ_REQUESTS)]

    assert Counter(answer.status_code for answer in answers) == {202: 3, 409: 7, 429: FUZZ_REQUESTS - 10}
    assert SubjectExport.objects.count() == 3
    running = answers[3].json()
    assert (running["code"], running["export_id"]) == ("export_running", answers[0].json()["id"])
    assert answers[-1]["Retry-After"] and answers[-1]["RateLimit"].startswith('"exports";r=0;')


def test_an_exporting_key_whose_exports_finish_still_gets_only_its_rate(
    api_client: Callable[..., APIClient], customers: list[Customer]
) -> None:
    exporter = api_client(customers[0].tenant, ApiScope.CONTACTS_EXPORT)

    statuses = []
    for index in range(FUZZ_REQUESTS):
        answer = exporter.post(_export_url(customers[index % 3]))
        statuses.append(answer.status_code)
        if answer.status_code == 202:  # the worker finishes it at once: the contact is free again
            assert subject_export_build(export_id=answer.json()["id"]) == "ready"

    assert Counter(statuses) == {202: 10, 429: FUZZ_REQUESTS - 10}
    assert SubjectExport.objects.filter(status=ExportStatus.READY).count() == 10


def test_the_database_refuses_a_second_pending_export_of_a_contact(customers: list[Customer]) -> None:
    customer = customers[0]
    first = subject_export_request(tenant=customer.tenant, contact=customer.contact, actor=CLI_ACTOR, enqueue=False)

    with pytest.raises(SubjectExportRunningError) as running:
        subject_export_request(tenant=customer.tenant, contact=customer.contact, actor=CLI_ACTOR, enqueue=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        SubjectExport.objects.create(
            tenant=customer.tenant, contact_id=customer.contact.pk, requested_by="x", expires_at=first.expires_at
        )

    assert running.value.export_id == first.pk
    other = customers[1]
    subject_export_request(tenant=other.tenant, contact=other.contact, actor=CLI_ACTOR, enqueue=False)
    subject_export_build(export_id=first.pk)
    again = subject_export_request(tenant=customer.tenant, contact=customer.contact, actor=CLI_ACTOR, enqueue=False)
    assert SubjectExport.objects.filter(contact_id=customer.contact.pk).count() == 2 and again.pk != first.pk


@pytest.mark.usefixtures("redis_down")
def test_with_redis_down_an_export_is_refused_and_none_is_made(
    api_client: Callable[..., APIClient], customers: list[Customer]
) -> None:
    exporter = api_client(customers[0].tenant, ApiScope.CONTACTS_EXPORT)

    answer = exporter.post(_export_url(customers[0]))

    assert (answer.status_code, answer["Retry-After"], answer.json()["code"]) == (503, "30", "service_unavailable")
    assert not SubjectExport.objects.exists()
