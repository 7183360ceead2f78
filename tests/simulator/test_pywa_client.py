"""pywa, a Cloud API client nobody here wrote, drives the simulator over real HTTP and judges its fidelity.

Every send type pywa offers is accepted and answered in a shape pywa reads; every error the simulator
injects raises the exception class pywa maps Meta's code to; pywa parses every webhook the simulator
posts (inbound messages and sent, delivered, read and failed statuses) in both 2026 identity shapes.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pywa import errors, handlers
from pywa.client import WhatsApp
from pywa.types.callback import Button, Section, SectionList, SectionRow
from pywa.types.message import Message
from pywa.types.message_status import MessageStatus
from pywa.types.others import Contact
from pywa.types.templates import TemplateLanguage

from tests.conftest import wait_for
from tests.simulator.conftest import (
    APP_SECRET,
    PHONE_NUMBER_ID,
    TOKEN,
    Received,
    SimulatorClient,
    WebhookReceiver,
)

USER = "16505551234"
WABA_ID = "102290129340398"
JPEG = b"\xff\xd8\xff\xe0" + b"pywa image" * 20


@pytest.fixture
def graph_session(simulator_url: str) -> Iterator[httpx.Client]:
    session = httpx.Client(timeout=10)
    yield session
    session.close()


def pywa_client(session: httpx.Client, simulator_url: str, *, token: str = TOKEN) -> WhatsApp:
    """A pywa client whose Graph base URL is the simulator's (pywa points its session at graph.facebook.com)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = WhatsApp(
            phone_id=PHONE_NUMBER_ID, token=token, session=session, app_secret=APP_SECRET, api_version="23.0"
        )
    session.base_url = httpx.URL(f"{simulator_url}/v23.0")
    return client


def inbound_ids(simulator: SimulatorClient, count: int = 1, **fields: Any) -> list[str]:
    response = simulator.request("POST", "/_sim/inbound", {"provider_id": PHONE_NUMBER_ID, "count": count, **fields})
    assert response.status == 202, response.body
    return list(response.body["ids"])


def test_every_send_type_succeeds(
    simulator: SimulatorClient, receiver: WebhookReceiver, simulator_url: str, graph_session: httpx.Client
) -> None:
    simulator.channel_add(identity="bsuid", webhook_url=receiver.url)
    [inbound_id] = inbound_ids(simulator, sender_ids=[USER])
    wa = pywa_client(graph_session, simulator_url)
    media = wa.upload_media(media=JPEG, mime_type="image/jpeg", filename="a.jpg")
    link = "https://example.com/files/a"

    sent = [
        wa.send_message(to=USER, text="Hello from pywa"),
        wa.send_message(
            to=USER,
            text="Pick one",
            buttons=[Button(title="Yes", callback_data="yes"), Button(title="No", callback_data="no")],
        ),
        wa.send_message(
            to=USER,
            text="Menu",
            buttons=SectionList(
                button_title="Open",
                sections=[Section(title="S", rows=[SectionRow(title="Row", callback_data="row")])],
            ),
        ),
        wa.send_image(to=USER, image=media.id, caption="uploaded"),
        wa.send_image(to=USER, image=f"{link}.jpg"),
        wa.send_video(to=USER, video=f"{link}.mp4"),
        wa.send_audio(to=USER, audio=f"{link}.ogg"),
        wa.send_document(to=USER, document=f"{link}.pdf", filename="a.pdf"),
        wa.send_sticker(to=USER, sticker=f"{link}.webp"),
        wa.send_location(to=USER, latitude=52.52, longitude=13.405, name="Berlin"),
        wa.send_contact(
            to=USER,
            contact=Contact(
                name=Contact.Name(formatted_name="Ada Lovelace", first_name="Ada"),
                phones=[Contact.Phone(phone="+441234567890", type="WORK")],
            ),
        ),
        wa.send_reaction(to=USER, emoji="👍", message_id=inbound_id),
        wa.remove_reaction(to=USER, message_id=inbound_id),
    ]
    template = wa.send_template(to=USER, name="hello_world", language=TemplateLanguage.ENGLISH_US)

    assert all(message.id.startswith("wamid.") for message in [*sent, template])
    assert {message.chat.id for message in [*sent, template]} == {USER}
    assert template.status is not None
    assert template.status.value == "accepted"
    assert wa.mark_message_as_read(message_id=inbound_id).success
    url = wa.get_media_url(media.id)
    assert (url.mime_type, url.sha256 is not None) == ("image/jpeg", True)
    assert wa.get_media_bytes(url=url.url) == JPEG
    assert wa.delete_media(media.id).success
    assert simulator.sends()["accepted_total"] == len(sent) + 1


def test_sends_to_a_business_scoped_user_id(
    simulator: SimulatorClient, receiver: WebhookReceiver, simulator_url: str, graph_session: httpx.Client
) -> None:
    simulator.channel_add(identity="bsuid", webhook_url=receiver.url, status_delays_ms=[0, 0, 0])
    inbound_ids(simulator, sender_ids=[USER])
    assert wait_for(lambda: len(receiver.snapshot()) == 1, seconds=10)
    user_id = receiver.snapshot()[0].payload["entry"][0]["changes"][0]["value"]["contacts"][0]["user_id"]
    wa = pywa_client(graph_session, simulator_url)

    sent = wa.send_message(to=user_id, text="Hello by BSUID")

    assert sent.chat.id == USER
    assert sent.input == user_id
    assert simulator.sends()["accepted_total"] == 1


def error_of(call: Any) -> errors.WhatsAppError:
    with pytest.raises(errors.WhatsAppError) as raised:
        call()
    return raised.value


def test_each_injected_error_raises_the_class_pywa_maps_its_code_to(
    simulator: SimulatorClient, receiver: WebhookReceiver, simulator_url: str, graph_session: httpx.Client
) -> None:
    simulator.channel_add(identity="bsuid", pair_burst=1, pair_period_seconds=600, mps=1_000)
    wa = pywa_client(graph_session, simulator_url)

    assert isinstance(error_of(lambda: wa.send_message(to=USER, text="closed window")), errors.ReEngagementMessage)
    simulator.request("POST", "/_sim/windows", {"provider_id": PHONE_NUMBER_ID, "recipients": [USER, "16505550000"]})
    wa.send_message(to=USER, text="first")
    assert isinstance(error_of(lambda: wa.send_message(to=USER, text="second")), errors.TooManyMessages)
    read = error_of(lambda: wa.mark_message_as_read(message_id="wamid.made-up"))
    assert isinstance(read, errors.InvalidParameter)
    assert "Unsupported post request" not in read.message
    no_cards = error_of(lambda: wa.send_contact(to="16505550000", contact=[]))
    assert isinstance(no_cards, errors.MissingRequiredParameter)

    simulator.channel_add(identity="bsuid", mps=1, pair_period_seconds=0, enforce_window=False)
    burst = error_of(lambda: [wa.send_message(to=USER, text="burst") for _ in range(3)])
    assert isinstance(burst, errors.RateLimitHit)

    with httpx.Client(timeout=10) as other_session:
        bad_token = pywa_client(other_session, simulator_url, token="wrong-token")
        assert isinstance(error_of(lambda: bad_token.send_message(to=USER, text="x")), errors.ExpiredAccessToken)

    simulator.request("POST", "/_sim/faults", {"provider_id": PHONE_NUMBER_ID, "server_error_rate": 1.0})
    for call in (
        lambda: wa.send_message(to="16505550000", text="x"),
        lambda: wa.upload_media(media=JPEG, mime_type="image/jpeg", filename="a.jpg"),
        lambda: wa.get_media_url("1000000000000001"),
    ):
        server_error = error_of(call)
        assert (type(server_error), server_error.code, server_error.is_transient) == (errors.WhatsAppError, 2, True)
    simulator.request("DELETE", "/_sim/faults")

    unknown_media = error_of(lambda: wa.get_media_url("1000000000000001"))
    assert unknown_media.code == 100
    assert "Unsupported get request" in unknown_media.message


def pywa_parses(wa: WhatsApp, received: list[Received]) -> list[Any]:
    """Hand every captured POST to pywa as a custom server would: its signature check, then its update handler."""
    parsed: list[Any] = []
    wa.add_handlers(
        handlers.MessageHandler(lambda _, update: parsed.append(update)),
        handlers.MessageStatusHandler(lambda _, update: parsed.append(update)),
    )
    for item in received:
        assert wa.webhook_update_validator(item.body, item.headers["X-Hub-Signature-256"]) is None
        assert wa.webhook_update_handler(item.body) == ("ok", 200)
    return parsed


@pytest.mark.parametrize("identity", ["bsuid", "bsuid_only"])
def test_pywa_parses_every_webhook_the_simulator_posts(
    identity: str,
    simulator: SimulatorClient,
    receiver: WebhookReceiver,
    simulator_url: str,
    graph_session: httpx.Client,
) -> None:
    simulator.channel_add(identity=identity, webhook_url=receiver.url, status_delays_ms=[0, 10, 20])
    failing = {131026: "16505550001", 131049: "16505550002", 130472: "16505550003", 131047: "16505550004"}
    for code, recipient in failing.items():
        mark = {"provider_id": PHONE_NUMBER_ID, "recipients": [recipient], "code": code}
        assert simulator.request("POST", "/_sim/failures", mark).status == 200
    recipients = [USER, *failing.values()]
    simulator.request("POST", "/_sim/windows", {"provider_id": PHONE_NUMBER_ID, "recipients": recipients})
    for kind in ("text", "image", "location"):
        inbound_ids(simulator, type=kind, sender_ids=[USER])
    wa = pywa_client(graph_session, simulator_url)
    for recipient in recipients:
        wa.send_message(to=recipient, text="Hello")
    expected_posts = 3 + 3 + len(failing)
    assert wait_for(lambda: len(receiver.snapshot()) == expected_posts and simulator.webhooks()["idle"], seconds=20)

    parsed = pywa_parses(wa, receiver.snapshot())

    assert len(parsed) == expected_posts
    messages = [update for update in parsed if isinstance(update, Message)]
    statuses = [update for update in parsed if isinstance(update, MessageStatus)]
    assert sorted(message.type.value for message in messages) == ["image", "location", "text"]
    assert all(message.from_user.bsuid and message.from_user.bsuid.startswith("US.") for message in messages)
    assert {message.from_user.wa_id for message in messages} == ({USER} if identity == "bsuid" else {None})
    assert sorted(status.status.value for status in statuses) == sorted(["sent", "delivered", "read", *["failed"] * 4])
    failed = {status.error.code: status.error for status in statuses if status.error is not None}
    assert set(failed) == set(failing)
    assert isinstance(failed[131026], errors.MessageUndeliverable)
    assert isinstance(failed[131049], errors.MessageUndeliverableDueToHealthyEcosystemEngagement)
    assert isinstance(failed[130472], errors.UserIsInExperimentGroup)
    assert isinstance(failed[131047], errors.ReEngagementMessage)
    assert all(status.from_user.bsuid for status in statuses)
