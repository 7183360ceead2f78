from __future__ import annotations

import smtplib
import uuid

from celery import shared_task

from accounts.security_alerts import SECURITY_ALERT_EMAIL_TASK, security_alert_email_deliver

EMAIL_RETRIES = 6  # backed off up to ten minutes apart: about half an hour for a mail server to come back


@shared_task(
    name=SECURITY_ALERT_EMAIL_TASK,
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=EMAIL_RETRIES,
)
def security_alert_email_task(alert_id: str) -> int:
    """Email one new security alert to the people responsible (by its id: nothing of the alert goes to the
    broker); a mail server that refuses or cannot be reached is tried again. Returns how many were addressed."""
    return security_alert_email_deliver(alert_id=uuid.UUID(alert_id))
