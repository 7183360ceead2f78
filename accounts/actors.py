from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.http import HttpRequest

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
