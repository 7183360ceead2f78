"""The session engine (settings.SESSION_ENGINE): Django's database sessions, each row also holding its user's id,
so that every session of one user can be found, and ended, by an indexed query (accounts.services.user_disable)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore

from accounts.models import UserSession


class SessionStore(DatabaseSessionStore):
    @classmethod
    def get_model_class(cls) -> type[UserSession]:
        return UserSession

    def create_model_instance(self, data: dict[str, Any]) -> UserSession:
        session = super().create_model_instance(data)
        assert isinstance(session, UserSession)  # noqa: S101 - get_model_class says so
        session.user_id = _user_id(data.get(SESSION_KEY))
        return session


def _user_id(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value is not None else None
    except ValueError:
        return None


def sessions_end_for_user(*, user_id: uuid.UUID) -> int:
    """Delete every stored session of this user: their next request is anonymous. The number deleted."""
    deleted, _ = UserSession.objects.filter(user_id=user_id).delete()
    return deleted
