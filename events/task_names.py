"""The names of the events app's tasks, each defined once, and beat's part of them (core.periodic): the settings
read ``PERIODIC`` before any app is loaded, so this module imports no Django. The queue a task goes to is its
name's first part."""

from __future__ import annotations

from core.periodic import Periodic

DELIVER_TASK = "events.deliver"
RELAY_TASK = "maintenance.events_relay"

PERIODIC = (Periodic("events-relay", RELAY_TASK, 2.0),)
