"""Periodic diagnostics work, scheduled by Celery beat (see ``config.celery``)."""

import logging

from celery import shared_task

from . import critical

logger = logging.getLogger(__name__)


@shared_task
def escalate_critical_values() -> int:
    """Escalate critical values not acknowledged by their deadline to the clinic's head and the centre."""
    count = critical.escalate_overdue()
    logger.info("critical value escalation: %d values", count)
    return count
