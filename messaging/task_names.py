"""The names of messaging's tasks, each defined once: for ``messaging.tasks``, which declares the tasks, and for
the code that publishes them by name (``core.tasks.enqueue_by_name_on_commit``) and that ``messaging.tasks``
imports, so it cannot import ``messaging.tasks`` itself. The queue a task goes to is its name's first part."""

from __future__ import annotations

from core.periodic import Periodic

SEND_TASK = "outbound.send"
SEND_BATCH_TASK = "outbound.send_batch"
OUTBOUND_RELAY_TASK = "maintenance.outbound_relay"
OUTBOUND_SWEEP_TASK = "maintenance.outbound_sweep"
MEDIA_DOWNLOAD_TASK = "media.download"
MEDIA_DOWNLOAD_BATCH_TASK = "media.download_batch"
MEDIA_SWEEP_TASK = "maintenance.media_sweep"
WINDOWS_CLOSING_TASK = "maintenance.conversation_windows_closing"
TEMPLATES_SYNC_TASK = "maintenance.templates_sync"
TEMPLATES_SYNC_SECONDS = 3600.0  # webhooks bring each change at once; the sync catches what a webhook missed

# Beat's part (core.periodic): the settings read it before any app is loaded, so this module imports no Django.
PERIODIC = (
    Periodic("media-sweep", MEDIA_SWEEP_TASK, 300.0),
    Periodic("outbound-relay", OUTBOUND_RELAY_TASK, 2.0),
    Periodic("outbound-sweep", OUTBOUND_SWEEP_TASK, 10.0),
    Periodic("conversation-windows-closing", WINDOWS_CLOSING_TASK, 60.0),
    Periodic("templates-sync", TEMPLATES_SYNC_TASK, TEMPLATES_SYNC_SECONDS),
)
