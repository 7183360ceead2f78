"""The pieces of bench/crypto.py: interleaved timing, the one-value cases and the ORM load."""

VALUE_BYTES = 64
