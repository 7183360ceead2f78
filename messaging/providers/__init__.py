"""Provider adapters (WhatsApp, Messenger, Instagram): payload shapes and Graph calls, never the ORM.

The registry (``messaging.providers.registry``) is the way in: ``parse_webhook`` for inbound bodies (it never
raises, and dispatches on the top-level ``object``), ``adapter_for`` for everything a platform knows.
"""
