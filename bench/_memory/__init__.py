"""bench/memory.py's parts: resident memory from /proc, the load, and the subject export's peak."""
