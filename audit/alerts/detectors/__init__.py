"""The detectors fed by the edges: one module per edge, one plain function per thing the edge saw.

Each function counts, compares with its thresholds (audit.alerts.thresholds) and raises through
audit.alerts.services when a count crosses one. Detection never breaks the request that fed it: a Redis outage
skips it (logged); any other error propagates as usual.
"""
