"""Typed WhatsApp Cloud API items, by family: message contents (``contents``, with shared contact cards in
``cards``), the items every change carries (``items``: routing and value errors), inbound messages
(``messages``), statuses (``statuses``) and the Business app's coexistence items (``coexistence``)."""
