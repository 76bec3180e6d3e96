"""Weekly slot schedules: a department's template of referral capacity, turned into slots ahead of time.

A schedule row says "every Tuesday at 08:30 (Beijing time), 4 places". :func:`generate_scheduled_slots`
(Celery beat, daily, and right after a schedule is added) creates the slots of the coming weeks,
once per schedule and start time (a unique constraint), so running it twice changes nothing.
"""

import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from consortium.permissions import Action, require
from consortium.services import record_audit_event

from .audit import ReferralAudit
from .models import ReferralSlot, SlotSchedule
from .services import ReferralError, SlotRowError

#: How far ahead the schedules' slots are opened.
WEEKS_AHEAD = 3
MAX_CAPACITY = 500


def add_slot_schedules(*, actor, rows: list[dict], now: datetime.datetime | None = None) -> list[SlotSchedule]:
    """Add weekly schedule rows (``department``, ``weekday``, ``starts_at`` time, ``capacity``): all or none.

    A broken rule raises :class:`~referrals.services.SlotRowError` naming the row before anything is
    written; the new rows' slots of the coming weeks are opened in the same transaction.
    """
    keys: list[tuple[int, int, datetime.time]] = []
    for index, row in enumerate(rows):
        department = row["department"]
        require(actor, Action.TRIAGE_REFERRAL, department.institution_id)
        if not department.accepts_referrals:
            raise SlotRowError(gettext_lazy("This department does not accept referrals."), field="department", row=index)
        if row["weekday"] not in range(7):
            raise SlotRowError(gettext_lazy("Choose the day of the week."), field="weekday", row=index)
        if not isinstance(row["capacity"], int) or not 1 <= row["capacity"] <= MAX_CAPACITY:
            raise SlotRowError(gettext_lazy("Capacity is a whole number from 1 to 500."), field="capacity", row=index)
        key = (department.pk, row["weekday"], row["starts_at"].replace(second=0, microsecond=0))
        if key in keys or SlotSchedule.objects.filter(department=department, weekday=key[1], starts_at=key[2]).exists():
            raise SlotRowError(
                gettext_lazy("This department already has a slot on this day at this time."), field="starts_at", row=index
            )
        keys.append(key)
    with transaction.atomic():
        added = []
        for (_department_id, weekday, starts_at), row in zip(keys, rows, strict=True):
            schedule = SlotSchedule.objects.create(
                department=row["department"], weekday=weekday, starts_at=starts_at, capacity=row["capacity"], created_by=actor
            )
            record_audit_event(
                actor=actor,
                action=ReferralAudit.SCHEDULE_ADDED,
                obj=schedule,
                institution=row["department"].institution,
                detail={"weekday": weekday, "starts_at": starts_at.strftime("%H:%M"), "capacity": row["capacity"]},
            )
            added.append(schedule)
        generate_scheduled_slots(schedules=added, now=now)
    return added


def remove_slot_schedule(schedule_id: int, *, actor, now: datetime.datetime | None = None) -> int:
    """Remove a schedule row; its future slots nobody booked go with it (booked ones stay). Returns slots removed."""
    now = now or timezone.now()
    with transaction.atomic():
        schedule = (
            SlotSchedule.objects.select_for_update().select_related("department__institution").filter(pk=schedule_id).first()
        )
        if schedule is None:
            raise ReferralError(gettext_lazy("This schedule row no longer exists."), field="schedule")
        require(actor, Action.TRIAGE_REFERRAL, schedule.department.institution_id)
        removed, _detail = ReferralSlot.objects.filter(schedule=schedule, starts_at__gt=now, booked=0).delete()
        record_audit_event(
            actor=actor,
            action=ReferralAudit.SCHEDULE_REMOVED,
            obj=schedule,
            institution=schedule.department.institution,
            detail={"weekday": schedule.weekday, "starts_at": schedule.starts_at.strftime("%H:%M"), "slots_removed": removed},
        )
        schedule.delete()
    return removed


def generate_scheduled_slots(*, schedules=None, now: datetime.datetime | None = None, weeks: int = WEEKS_AHEAD) -> int:
    """Open the slots of the coming ``weeks`` for every schedule (or the given ones); returns how many were new.

    Start times are the schedule's wall-clock time in the site's time zone (Asia/Shanghai); slots
    already opened for a schedule and time are left as they are (bookings kept).
    """
    now = now or timezone.now()
    zone = timezone.get_default_timezone()
    today = timezone.localdate(now, zone)
    if schedules is None:
        schedules = SlotSchedule.objects.filter(department__accepts_referrals=True, department__institution__is_active=True)
    rows = []
    for schedule in schedules:
        for offset in range(weeks * 7 + 1):
            day = today + datetime.timedelta(days=offset)
            if day.weekday() != schedule.weekday:
                continue
            starts_at = timezone.make_aware(datetime.datetime.combine(day, schedule.starts_at), zone)
            if starts_at <= now:
                continue
            rows.append(
                ReferralSlot(
                    department_id=schedule.department_id,
                    schedule=schedule,
                    starts_at=starts_at,
                    capacity=schedule.capacity,
                    created_by_id=schedule.created_by_id,
                    created_at=now,
                )
            )
    if not rows:
        return 0
    schedule_ids = {row.schedule.pk for row in rows}
    before = ReferralSlot.objects.filter(schedule_id__in=schedule_ids).count()
    ReferralSlot.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    return ReferralSlot.objects.filter(schedule_id__in=schedule_ids).count() - before
