"""The pieces of bench/dispatch.py: its processes, the queued messages, the phases and the report."""
