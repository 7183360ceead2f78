"""Retention and expiry policies, the purge of what they let expire, and the legal holds' filters it obeys."""
