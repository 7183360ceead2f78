"""The pieces of bench/ingest.py: its HTTP phases and the fan-out."""
