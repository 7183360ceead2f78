"""Message templates as the send rules see them, whatever the platform: a reference named by a send, and the
facts of the stored template it is checked against (``Adapter.template_reference``, ``Adapter.template_check``).

WhatsApp is the platform with templates; its shapes and rules are in ``providers/whatsapp/templates/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from messaging.providers.sending import LabelledChoices


class TemplateStatus(LabelledChoices):
    """A template's review status, as Meta names it."""

    APPROVED = "APPROVED", "Approved: it can be sent."
    PENDING = "PENDING", "In review."
    REJECTED = "REJECTED", "Rejected in review."
    PAUSED = "PAUSED", "Paused by Meta after low-quality feedback."
    DISABLED = "DISABLED", "Disabled by Meta after repeated low quality."
    IN_APPEAL = "IN_APPEAL", "A rejection is being appealed."
    PENDING_DELETION = "PENDING_DELETION", "Deleted; the name is not yet free again."
    DELETED = "DELETED", "Deleted."
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED", "Over the account's template limit."
    ARCHIVED = "ARCHIVED", "Archived."
    REINSTATED = "REINSTATED", "Reinstated after a pause; sendable again once approved."
    FLAGGED = "FLAGGED", "Flagged for low quality; may be paused or disabled soon."
    UNKNOWN = "UNKNOWN", "A status this version does not know."


class TemplateCategory(LabelledChoices):
    MARKETING = "MARKETING", "Marketing"
    UTILITY = "UTILITY", "Utility"
    AUTHENTICATION = "AUTHENTICATION", "Authentication"


class ParameterFormat(LabelledChoices):
    """How a template names its variables: ``{{1}}`` (positional) or ``{{first_name}}`` (named)."""

    POSITIONAL = "POSITIONAL", "Positional ({{1}}, {{2}}, …)"
    NAMED = "NAMED", "Named ({{first_name}}, …)"


@dataclass(frozen=True, kw_only=True)
class TemplateReference:
    """The template a send names."""

    name: str
    language: str


@dataclass(frozen=True, kw_only=True)
class TemplateFacts:
    """A stored template: what a send naming it is checked against."""

    name: str
    language: str
    status: str
    parameter_format: str
    components: list[dict[str, Any]]
