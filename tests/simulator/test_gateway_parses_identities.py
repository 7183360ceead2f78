"""The gateway's own WhatsApp parser reads every webhook the simulator posts, in each identity shape."""

from __future__ import annotations

import pytest

from messaging.providers.whatsapp.parse import parse_whatsapp
from messaging.providers.whatsapp.types.messages import InboundMessage
from messaging.providers.whatsapp.types.statuses import StatusUpdate
from tests.conftest import wait_for
from tests.simulator.conftest import PHONE_NUMBER_ID, SimulatorClient, WebhookReceiver

USER = "16505551234"
FAILING = "16505550001"


@pytest.mark.parametrize("identity", ["phone", "bsuid", "bsuid_only"])
def test_the_gateway_parses_each_identity_shape(
    identity: str, simulator: SimulatorClient, receiver: WebhookReceiver
) -> None:
    simulator.channel_add(identity=identity, webhook_url=receiver.url, status_delays_ms=[0, 0, 0])
    mark = {"provider_id": PHONE_NUMBER_ID, "recipients": [FAILING], "code": 131049}
    assert simulator.request("POST", "/_sim/failures", mark).status == 200
    simulator.request("POST", "/_sim/windows", {"provider_id": PHONE_NUMBER_ID, "recipients": [FAILING]})
    simulator.request("POST", "/_sim/inbound", {"provider_id": PHONE_NUMBER_ID, "sender_ids": [USER]})
    simulator.send_text("+" + USER, callback_data="ok")
    simulator.send_text("+" + FAILING, callback_data="failing")
    assert wait_for(lambda: len(receiver.snapshot()) == 5 and simulator.webhooks()["idle"], seconds=10)

    parsed = [parse_whatsapp(received.payload) for received in receiver.snapshot()]

    assert not [problem for delivery in parsed for problem in delivery.problems]
    items = [item for delivery in parsed for item in delivery.items]
    [message] = [item for item in items if isinstance(item, InboundMessage)]
    statuses = [item for item in items if isinstance(item, StatusUpdate)]
    assert message.wa_id == (None if identity == "bsuid_only" else USER)
    assert (message.user_id is None) == (identity == "phone")
    assert sorted(status.status for status in statuses) == ["delivered", "failed", "read", "sent"]
    assert all((status.recipient_user_id is None) == (identity == "phone") for status in statuses)
    [failed] = [status for status in statuses if status.status == "failed"]
    assert (failed.biz_opaque_callback_data, [error.code for error in failed.errors]) == ("failing", [131049])
    if identity == "bsuid":
        assert {status.recipient_user_id for status in statuses} >= {message.user_id}
