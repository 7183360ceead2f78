"""Storing parsed webhook items: route each by its own id through the app it came on, dedupe by unique
constraints (so redeliveries and concurrent workers give one row), statuses forward only.

One delivery is stored in one transaction and in bulk: the channels, contacts, conversations and messages
of all its items are looked up with one query each and inserted with ``INSERT … ON CONFLICT DO NOTHING``,
so a 50-item webhook costs a dozen queries instead of hundreds. Rare kinds (channel news, quarantine,
receipts) go one by one.

``delivery`` stores one delivery; ``sorting`` sorts its items by how they are stored; ``drafts`` and
``stamps`` make messages ready to store; ``messages`` inserts them in bulk; ``coexistence`` and ``unsent``
are the changes some messages make to their channel and to earlier messages.
"""
