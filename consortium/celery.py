"""The Celery application: autodiscovers each app's ``tasks`` module."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consortium.settings")

app = Celery("consortium")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "clear-expired-sessions": {
        "task": "consortium.tasks.clear_expired_sessions",
        "schedule": crontab(hour=3, minute=15),
    },
    "referrals-escalate-overdue": {"task": "referrals.tasks.escalate_overdue_referrals", "schedule": crontab(minute="*/10")},
    "referrals-escalate-follow-ups": {"task": "referrals.tasks.escalate_overdue_follow_ups", "schedule": crontab(minute=5)},
}
