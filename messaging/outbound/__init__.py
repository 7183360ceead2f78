"""Sending: the send API, checking and queueing requests (with idempotency), and their dispatch."""
