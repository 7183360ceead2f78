"""The pieces of bench/purge.py: expired rows, the purge in its own process, the paced windows, the report."""
