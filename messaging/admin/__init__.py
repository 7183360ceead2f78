"""Messaging in the admin: every encrypted value masked. Credentials are write-only: typed into password
inputs that are never rendered back, stored through the services (which audit them), behind a fresh step-up;
they are never revealed. Message content and contact details are revealed after a step-up and a typed
reason (audited), unless retention expired it: then it shows as expired and is never revealed. Messages and
contacts are found by exact provider id through their blind indexes. Everything is scoped by membership role
(``accounts.admin_scope``): shared Meta apps (no tenant) are for operators only.

Importing this package registers every messaging admin (Django's autodiscovery imports ``messaging.admin``)."""

from messaging.admin import channels, contacts, conversations, messages, meta_apps, statuses, templates

__all__ = ["channels", "contacts", "conversations", "messages", "meta_apps", "statuses", "templates"]
