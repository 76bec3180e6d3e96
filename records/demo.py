"""Demo break-glass accesses: one the home clinic still has time to review, one already overdue.

The city hospital's referral coordinator opens two records of 鸣凤镇卫生院's patients who gave no
consent, through the real service (so the home clinic's staff and the consortium's privacy officer
are notified); the older one is moved five days back, past its review deadline.  Idempotent: once the
demo's accesses exist nothing is written again.
"""

import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from .access import break_glass_duration, break_glass_review_window
from .models import BreakGlassAccess, Patient
from .services import start_break_glass

DEMO_REASONS = (
    ("emergency", "急诊胸痛入院，需查阅既往心电图及用药史（演示）", 1),
    ("unconscious", "患者意识不清由120送至急诊，需核对过敏史与慢病用药（演示）", 5),
)


def seed_break_glass_demo() -> dict[str, int]:
    coordinator = get_user_model().objects.filter(username="city_coordinator").first()
    if coordinator is None or BreakGlassAccess.objects.filter(reason__endswith="（演示）").exists():
        return {}
    patients = list(
        Patient.objects.filter(home_institution__code="YA-MF", consents_to_sharing=False, merged_into__isnull=True).order_by(
            "pk"
        )[:2]
    )
    if len(patients) < len(DEMO_REASONS):
        return {}
    with transaction.atomic():
        for patient, (code, reason, days_ago) in zip(patients, DEMO_REASONS, strict=True):
            grant = start_break_glass(actor=coordinator, patient=patient, reason=reason, reason_code=code)
            started = timezone.now().replace(second=0, microsecond=0) - datetime.timedelta(days=days_ago)
            BreakGlassAccess.objects.filter(pk=grant.pk).update(
                started_at=started,
                expires_at=started + break_glass_duration(),
                review_due_at=started + break_glass_review_window(),
            )
    return {"break-glass accesses": len(DEMO_REASONS)}
