"""The error messaging's operations refuse bad input with; every part of messaging may raise it."""

from __future__ import annotations


class MessagingError(ValueError):
    """Bad input for a messaging operation, with a message fit to show the person who gave it."""
