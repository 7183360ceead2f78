from __future__ import annotations

from django.db import models


class AuditCheckpoint(models.Model):
    """One signed checkpoint of a chain: event ``seq`` had ``event_hash``. The file under
    GATEWAY_AUDIT_CHECKPOINT_DIR is the record that counts; this row finds it."""

    chain = models.CharField(max_length=64)
    number = models.BigIntegerField(help_text="1, 2, 3… per chain, in the order they were written")
    seq = models.BigIntegerField()
    event_hash = models.CharField(max_length=64)
    event_occurred_at = models.DateTimeField()
    count = models.BigIntegerField(help_text="Events verified for this checkpoint, since the one it started from")
    created_at = models.DateTimeField()
    previous_digest = models.CharField(max_length=64, blank=True)
    digest = models.CharField(max_length=64)
    key_id = models.CharField(max_length=16)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chain", "number"], name="audit_checkpoint_unique_number")]
        indexes = [models.Index(fields=["chain", "seq"], name="audit_checkpoint_seq")]
        ordering = ["chain", "number"]

    def __str__(self) -> str:
        return f"{self.chain} checkpoint {self.number} @ {self.seq}"
