"""Graph API request validation and real-shaped success and error bodies (META-SPEC §6-8), by endpoint family:
the errors every endpoint answers with (``errors``), the JSON body of a request (``bodies``), WhatsApp's
``/<PHONE_NUMBER_ID>/messages`` (``whatsapp``), the Send API of Messenger and Instagram (``messenger``), and the
nodes a ``GET`` reads (``nodes``).

Validation is deliberately rough: enough to catch a malformed body the way Meta would, cheap enough to
run on every request of a benchmark (plain dict checks, no schema library).
"""
