from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.http import HttpRequest

from audit.services import audit_record
from core.clientip import client_ip


@dataclass(frozen=True)
class Actor:
    """Who did something, for the audit log: a user, or a label such as "cli" or "system"."""

    user_id: uuid.UUID | None = None
    label: str = "system"
    ip: str = ""


CLI_ACTOR = Actor(label="cli")


def actor_from_request(request: HttpRequest) -> Actor:
    user = request.user
    if user.is_authenticated:
        return Actor(user_id=user.pk, label=user.get_username(), ip=client_ip(request))
    return Actor(label="anonymous", ip=client_ip(request))


def actor_audit(request: HttpRequest, action: str, *, actor: Actor | None = None, **details: str | int | bool) -> None:
    """An operator-chain audit event about the signed-in user (or ``actor``): sign-ins, second factors, devices."""
    actor = actor or actor_from_request(request)
    audit_record(
        action=action,
        tenant_id=None,
        actor_id=actor.user_id,
        actor_label=actor.label,
        ip=actor.ip,
        target_type="user" if actor.user_id else "",
        target_id=str(actor.user_id or ""),
        details=details,
    )
