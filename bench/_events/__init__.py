"""bench/events.py: event delivery throughput against the receiver's plain capacity, and webhook-to-event latency."""
