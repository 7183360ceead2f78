"""Security alerts by email: a new alert on a tenant goes to its active owners and admins, an operator-wide
alert to the active superusers (operators). Sent through Django's email backend by a task published once the
alert has committed, so the request that raised it (a login, a webhook) never waits on a mail server.

The email names the alert, its severity, its evidence (ids and counts) and the suggested action: never content.
A bump of an open alert sends nothing (one burst, one email).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.mail import EmailMessage

from accounts.models import Membership, Role, User
from audit.alerts.listeners import AlertRaised
from audit.alerts.models import SecurityAlert
from core.tasks import registered_task

NOTIFIED_ROLES = (Role.OWNER, Role.ADMIN)
SECURITY_ALERT_EMAIL_TASK = "maintenance.security_alert_email"  # declared in accounts.tasks


def security_alert_recipients(*, tenant_id: uuid.UUID | None) -> list[str]:
    """The addresses an alert on ``tenant_id`` goes to (None: the operators), sorted."""
    if tenant_id is None:
        users = User.objects.filter(is_active=True, is_superuser=True)
        return sorted(users.values_list("email", flat=True))
    members = Membership.objects.filter(
        tenant_id=tenant_id, tenant__is_active=True, role__in=NOTIFIED_ROLES, user__is_active=True
    )
    return sorted(set(members.values_list("user__email", flat=True)))


def security_alert_email_send(raised: AlertRaised) -> None:
    """The notifier accounts registers: a new alert is emailed by a task (a bump of an open one sends nothing)."""
    if not raised.is_new:
        return
    registered_task(SECURITY_ALERT_EMAIL_TASK).apply_async(args=(str(raised.alert.pk),))


def security_alert_email_deliver(*, alert_id: uuid.UUID) -> int:
    """One email for the alert, to every recipient at once (a bcc list); returns how many were addressed (0 for an
    alert gone since, or nobody to tell)."""
    alert = SecurityAlert.objects.filter(pk=alert_id).first()
    if alert is None:
        return 0
    recipients = security_alert_recipients(tenant_id=alert.tenant_id)
    if not recipients:
        return 0
    subject = f"[{settings.SECURITY_ALERT_EMAIL_SUBJECT_PREFIX}] {alert.severity.upper()}: {alert.title}"
    EmailMessage(subject=subject, body=_body(alert), bcc=recipients).send(fail_silently=False)
    return len(recipients)


def _body(alert: SecurityAlert) -> str:
    evidence = "\n".join(f"  {name}: {value}" for name, value in sorted(alert.evidence.items()))
    scope = f"tenant {alert.tenant_id}" if alert.tenant_id else "the whole installation (operator alert)"
    return (
        f"{alert.title}\n\n"
        f"Severity: {alert.severity}\nDetector: {alert.detector}\nAbout: {scope}\n"
        f"First seen: {alert.first_seen.isoformat()}\nAlert id: {alert.pk}\n\n"
        f"Evidence (ids and counts):\n{evidence}\n\n"
        f"What to do: {alert.suggested_action}\n\n"
        "The alert is listed in the admin under Security alerts, where it can be resolved.\n"
    )
