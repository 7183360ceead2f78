"""A stand-in for the parts of Meta's Graph API the gateway talks to, run as its own process.

It imports nothing from the gateway: the two meet only over HTTP, as the real platform does.
"""
