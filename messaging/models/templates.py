"""WhatsApp message templates, per tenant and WhatsApp Business Account: the tenant's channels with that
``waba_id`` share them. Rows are Meta's templates as last synced or announced by webhook
(``messaging.templates``); a template send is checked against them before it is queued."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from accounts.models import Tenant
from core.models import BaseModel
from messaging.providers.templates import ParameterFormat, TemplateCategory, TemplateStatus


class MessageTemplate(BaseModel):
    """One template in one language (Meta keys a template by WABA, name and language)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="message_templates")
    waba_id = models.CharField(max_length=64, help_text="The WhatsApp Business Account the template belongs to.")
    name = models.CharField(max_length=512)
    language = models.CharField(max_length=16)
    provider_template_id = models.CharField(max_length=64, blank=True, help_text="The template's id at Meta.")
    category = models.CharField(max_length=32, choices=TemplateCategory.choices, blank=True)
    status = models.CharField(max_length=32, choices=TemplateStatus.choices, default=TemplateStatus.PENDING.value)
    quality_score = models.CharField(max_length=16, blank=True, help_text="GREEN, YELLOW, RED or UNKNOWN.")
    parameter_format = models.CharField(
        max_length=16, choices=ParameterFormat.choices, default=ParameterFormat.POSITIONAL.value
    )
    components = models.JSONField(default=list)
    rejected_reason = models.CharField(max_length=200, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True, help_text="When Graph's list last showed it.")

    objects: ClassVar[models.Manager[MessageTemplate]] = models.Manager()

    class Meta:
        ordering = ["name", "language"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "waba_id", "name", "language"], name="template_unique_language"),
        ]
        indexes = [models.Index(fields=["waba_id", "provider_template_id"], name="template_provider_id")]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"
