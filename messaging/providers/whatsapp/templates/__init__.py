"""WhatsApp message templates (Graph ``/<waba_id>/message_templates``): what a template's components ask of a
send (``slots``), the checks of a template send against them (``checks``), the rules of a new template
(``definitions``), the Graph queries, bodies and answers (``graph``), and the account webhooks that change a
template (``changes``). Pure functions: no ORM, no HTTP.

A template's variables are ``{{1}}``, ``{{2}}`` (parameter_format POSITIONAL) or ``{{first_name}}`` (NAMED). A
send gives one component per place that takes parameters: ``header`` (its text's variables, or the media of an
IMAGE / VIDEO / DOCUMENT / LOCATION header, always required), ``body`` (its variables), and ``button`` with
``index`` for a URL button whose link has a variable (one text parameter), a COPY_CODE button (a coupon code),
an OTP button (the code, as a URL button's text) and, optionally, a QUICK_REPLY button's payload.
"""
