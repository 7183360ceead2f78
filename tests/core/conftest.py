"""Fixtures of the core tests."""

from __future__ import annotations

import socket
from typing import Any

import pytest


@pytest.fixture
def connections_made(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The addresses of every TCP connection opened during the test, in order."""
    made: list[Any] = []
    real = socket.create_connection

    def counting(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        made.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", counting)
    return made
