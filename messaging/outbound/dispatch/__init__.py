"""The dispatcher: queued outbound messages out to Graph in batches, never two sends of one on purpose.

The lifecycle (the contract with the rest of ``messaging.outbound``): the API writes the message ``queued`` with its
outbox row and publishes ``outbound.send`` (one message, and once it is leased, up to a batch of the messages
published and waiting for a worker: a backlog of single publishes leaves as batches, with no wait added to
any); the relay publishes ``outbound.send_batch`` (up to DISPATCH_BATCH messages of one channel). Both run
``messages_send``: a lease (one conditional UPDATE
``queued → sending`` … RETURNING: only one worker can win a message, and only while its channel is active and
it is due), the messages loaded and their Graph requests built, then the send budgets from core.ratelimit (the
channel's per-second budget and the recipients' pair rate, shared by every worker: one script call per channel),
taken as late as can be so a grant does not go stale before its call (on a channel this process saw refused a
moment ago, the budgets are taken first, from what the lease returns, and only the granted messages are loaded:
a backlog refused again and again costs no load and no decryption), the
attempt rows (one INSERT, committed *before* the calls, so a killed worker leaves ``pending`` attempts behind),
then the Graph calls, concurrently (one thread of the worker process per call, CALL_THREADS of them). A call
whose grant is older than half the rate guard (the other half is the call's way to Meta) when its thread gets
to it is not made (the message goes back to ``queued``). The first send on a channel that has had no
acceptance in this process for a while goes alone, so a revoked token costs one call, not a batch.
Each answer is classified by messaging.providers.errors and ends as:

* accepted: the provider id stored, statuses that raced the answer applied, the outbox row deleted (in bulk);
* queued again with ``next_attempt_at`` (throttled: no retry budget used; transient: backoff with full jitter,
  honouring ``Retry-After``; channel-level error: the channel paused and the message held until resumed);
* failed (code and title; the outbox row deleted);
* unconfirmed: the call may have reached Meta (a read timeout, a reset). It is not resent until
  GATEWAY_SEND_UNCONFIRMED_SILENCE passes without a status webhook carrying our id (the status engine finds
  it by ``biz_opaque_callback_data`` and moves it forward, which takes it out of the sweeper's reach).

Beat jobs: the relay publishes outbox rows that are due and were never published (or were published long
ago and their message is still queued: a lost publish); the sweeper turns ``sending`` past its lease (a
killed worker) into ``unconfirmed``, and ``unconfirmed`` past the silence back into ``queued``.

Its floors, each importing only the ones below it (an import-linter contract in pyproject.toml):

* ``send`` (one try at a batch: lease, budgets, calls, outcomes) and ``sweep`` (beat: run-out leases, silences);
* ``outcomes``: what each answer does to its message and attempt row;
* ``budgets`` (send budgets, refusals, probes) and ``channels`` (pause on a channel-level error, resume);
* ``calls`` (attempt rows, call threads, Graph calls) and ``lease`` (``queued → sending``, what was not won);
* ``relay`` (beat: outbox rows published as batches of one channel);
* ``transitions``: every status move (on an answer, by the sweeper, on cancel) and the outbox row that goes
  with it, the lease's ``queued → sending`` aside; nothing below it.
"""

from messaging.outbound.dispatch.send import message_send, message_send_gathering, messages_send

__all__ = ["message_send", "message_send_gathering", "messages_send"]
