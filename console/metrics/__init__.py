"""``/metrics``: the gateway's Prometheus exposition, its counters and the backlogs read at scrape time."""
