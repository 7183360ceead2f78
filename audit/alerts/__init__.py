"""Security alerts: what the detectors raise, deduplicated, audited and passed on to registered listeners.

``models`` holds the alerts, the durable hourly counts baselines are computed from and the per-tenant threshold
overrides; ``services`` raises and resolves alerts; ``counters`` counts events in sliding windows; ``thresholds``
answers a detector's thresholds for a tenant; ``listeners`` is the registry the upper layers (accounts: email,
events: the ``security.alert`` event) register into; ``detectors/`` holds the detectors fed by the edges.
"""
