"""The nodes a ``GET /<ID>`` reads: a WhatsApp phone number or a Page."""

from __future__ import annotations

from typing import Any

from simulator.state import Channel

HIGH_THROUGHPUT_MPS = 1000


def phone_number_node(channel: Channel) -> dict[str, Any]:
    """``GET /<PHONE_NUMBER_ID>``: the phone number object (META-SPEC §9 reads ``throughput`` from it)."""
    return {
        "verified_name": "Simulated Business",
        "code_verification_status": "VERIFIED",
        "display_phone_number": channel.display_phone_number,
        "quality_rating": "GREEN",
        "platform_type": "CLOUD_API",
        "throughput": {"level": "HIGH" if channel.mps >= HIGH_THROUGHPUT_MPS else "STANDARD"},
        "is_on_biz_app": channel.is_coexistence,
        "id": channel.provider_id,
    }


def page_node(channel: Channel) -> dict[str, Any]:
    return {"name": "Simulated Page", "id": channel.provider_id}
