"""The Celery application: autodiscovers each app's ``tasks`` module."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("consortium")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "clear-expired-sessions": {
        "task": "config.tasks.clear_expired_sessions",
        "schedule": crontab(hour=3, minute=15),
    },
    # Month partitions (consortium/partitions.py): months ahead created daily; months past retention
    # archived to the file storage and removed, daily (a no-op until a month falls out).
    "partitions-ensure": {"task": "config.tasks.ensure_partitions", "schedule": crontab(hour=0, minute=10)},
    "partitions-retention": {"task": "config.tasks.apply_partition_retention", "schedule": crontab(hour=3, minute=40)},
    "sync-sweep": {"task": "sync.tasks.sync_sweep", "schedule": 60.0},
    "insurance-batch-draft-claims": {"task": "insurance.tasks.batch_draft_claims", "schedule": crontab(hour=1, minute=30)},
    "insurance-nightly-reconciliation": {
        "task": "insurance.tasks.reconcile_pending_files",
        "schedule": crontab(hour=2, minute=30),
    },
    "referrals-escalate-overdue": {"task": "referrals.tasks.escalate_overdue_referrals", "schedule": crontab(minute="*/10")},
    "referrals-generate-scheduled-slots": {
        "task": "referrals.tasks.generate_scheduled_slots",
        "schedule": crontab(hour=0, minute=30),
    },
    "referrals-escalate-follow-ups": {"task": "referrals.tasks.escalate_overdue_follow_ups", "schedule": crontab(minute=5)},
    "diagnostics-escalate-critical-values": {"task": "diagnostics.tasks.escalate_critical_values", "schedule": 60.0},
    "chronic-screen-candidates": {"task": "chronic.tasks.screen_candidates", "schedule": crontab(hour=0, minute=40)},
    "chronic-mark-missed-follow-ups": {"task": "chronic.tasks.mark_missed_follow_ups", "schedule": crontab(hour=0, minute=50)},
    "chronic-return-discharged": {"task": "chronic.tasks.return_discharged_patients", "schedule": crontab(minute="*/15")},
    "dashboard-rollup-recent": {"task": "dashboard.tasks.rollup_indicators", "schedule": crontab(minute=20)},
    "dashboard-rollup-year": {
        "task": "dashboard.tasks.rollup_indicators",
        "schedule": crontab(hour=1, minute=45),
        "kwargs": {"months": 13},
    },
    "dashboard-expenditure-warnings": {
        "task": "dashboard.tasks.recompute_expenditure_warnings",
        "schedule": crontab(hour=2, minute=0),
    },
}
