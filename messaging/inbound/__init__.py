"""Storing neutral inbound events: messages, statuses, receipts, channel news, quarantine and media."""
