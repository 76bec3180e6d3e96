"""Demo weekly slot schedules: every department that takes referrals opens slots on weekdays."""

import datetime

from consortium.models import Department, Staff, StaffRole

from .models import SlotSchedule
from .schedules import generate_scheduled_slots

#: (weekdays, start time, places) of every receiving department's week.
DEMO_WEEK = [
    ((0, 1, 2, 3, 4), datetime.time(8, 30), 4),
    ((1, 3), datetime.time(14, 30), 2),
    ((5,), datetime.time(9, 0), 1),
]


def seed_slot_schedules() -> dict[str, int]:
    """Schedule rows for each receiving department (once) and the slots of the coming weeks."""
    created = 0
    for department in Department.objects.filter(accepts_referrals=True).select_related("institution").order_by("pk"):
        coordinator = (
            Staff.objects.filter(institution=department.institution_id, role=StaffRole.REFERRAL_COORDINATOR)
            .order_by("pk")
            .first()
        )
        for weekdays, starts_at, capacity in DEMO_WEEK:
            for weekday in weekdays:
                _row, new = SlotSchedule.objects.get_or_create(
                    department=department,
                    weekday=weekday,
                    starts_at=starts_at,
                    defaults={"capacity": capacity, "created_by": coordinator.user if coordinator else None},
                )
                created += new
    return {"slot schedules": created, "referral slots": generate_scheduled_slots()}
