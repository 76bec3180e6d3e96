"""Periodic referral work, scheduled by Celery beat (see ``config.celery``)."""

import logging

from celery import shared_task

from . import schedules, services

logger = logging.getLogger(__name__)


@shared_task
def escalate_overdue_referrals() -> dict:
    """Escalate referrals past their due time (coordinator, then administrator) and expire stale ones."""
    counts = services.escalate_overdue_referrals()
    logger.info("referral escalation: %s", counts)
    return counts


@shared_task
def escalate_overdue_follow_ups() -> int:
    count = services.escalate_overdue_follow_ups()
    logger.info("follow-up escalation: %d tasks", count)
    return count


@shared_task
def generate_scheduled_slots() -> int:
    """Open the weekly schedules' slots of the coming weeks (idempotent)."""
    count = schedules.generate_scheduled_slots()
    logger.info("scheduled slots opened: %d", count)
    return count
