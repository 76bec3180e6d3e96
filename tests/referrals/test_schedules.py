"""Weekly slot schedules and appointments outside them (issue #14, item 5)."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from referrals import schedules, services
from referrals.models import Referral, ReferralSlot, ReferralStatus, SlotSchedule

pytestmark = pytest.mark.django_db

#: A Monday, 10:00 Beijing time.
MONDAY = datetime.datetime.fromisoformat("2026-11-30T10:00+08:00")


def _rows(*rows):
    data = {"schedule-TOTAL_FORMS": str(len(rows)), "schedule-INITIAL_FORMS": "0"}
    for i, row in enumerate(rows):
        data |= {f"schedule-{i}-{key}": value for key, value in row.items()}
    return data


def test_a_schedule_opens_its_slots_weeks_ahead_in_beijing_time_once(setting):
    added = schedules.add_slot_schedules(
        actor=setting.coordinator,
        rows=[
            {"department": setting.cardiology, "weekday": 0, "starts_at": datetime.time(8, 30), "capacity": 4},
            {"department": setting.cardiology, "weekday": 2, "starts_at": datetime.time(14, 0), "capacity": 2},
        ],
        now=MONDAY,
    )
    slots = list(ReferralSlot.objects.filter(schedule__in=added).order_by("starts_at"))
    # Three weeks ahead: Monday 08:30 today has passed; three Wednesdays and the next three Mondays.
    local = [timezone.localtime(slot.starts_at).strftime("%a %Y-%m-%d %H:%M") for slot in slots]
    assert local[0] == "Wed 2026-12-02 14:00"
    assert "Mon 2026-11-30 08:30" not in local
    assert {s.capacity for s in slots if s.schedule == added[0]} == {4}
    assert len(slots) == 3 + 3
    assert schedules.generate_scheduled_slots(now=MONDAY) == 0, "running again opens nothing"
    assert schedules.generate_scheduled_slots(now=MONDAY + datetime.timedelta(days=7)) == 2, "a week later: the next week"


def test_schedule_rows_are_checked_whole_and_name_the_row(setting):
    good = {"department": setting.cardiology, "weekday": 1, "starts_at": datetime.time(9, 0), "capacity": 3}
    bad_rows = [
        ({**good, "department": setting.pharmacy}, "department"),
        ({**good, "capacity": 0}, "capacity"),
        ({**good, "weekday": 7}, "weekday"),
        (good, "starts_at"),  # the same day and time twice in one batch
    ]
    for bad, field in bad_rows:
        with pytest.raises(services.SlotRowError) as error:
            schedules.add_slot_schedules(actor=setting.coordinator, rows=[good, bad], now=MONDAY)
        assert (error.value.row, error.value.field) == (1, field)
    assert not SlotSchedule.objects.exists() and not ReferralSlot.objects.filter(schedule__isnull=False).exists()
    with pytest.raises(PermissionDenied):
        schedules.add_slot_schedules(actor=setting.clinician, rows=[good], now=MONDAY)


def test_removing_a_row_keeps_booked_slots(setting):
    (row,) = schedules.add_slot_schedules(
        actor=setting.coordinator,
        rows=[{"department": setting.cardiology, "weekday": 3, "starts_at": datetime.time(8, 0), "capacity": 2}],
    )
    slots = list(row.slots.order_by("starts_at"))
    ReferralSlot.objects.filter(pk=slots[0].pk).update(booked=1)
    removed = schedules.remove_slot_schedule(row.pk, actor=setting.coordinator)
    assert removed == len(slots) - 1
    assert ReferralSlot.objects.filter(pk=slots[0].pk, schedule=None).exists()


def test_schedule_page_adds_rows_with_errors_on_the_row(setting, login):
    client = login(setting.staff["coordinator"])
    url = reverse("referrals:schedule")
    row = {"department": setting.cardiology.pk, "weekday": "1", "starts_at": "08:30", "capacity": "4"}
    assert client.post(url, _rows(row, row | {"weekday": "3"})).status_code == 302
    assert SlotSchedule.objects.count() == 2
    assert ReferralSlot.objects.filter(schedule__isnull=False).count() >= 6
    half = {"department": "", "weekday": "", "starts_at": "09:00", "capacity": ""}
    response = client.post(url, _rows(row | {"weekday": "4"}, half))
    errors = response.context["formset"].forms[1].errors
    assert "department" in errors and "weekday" in errors and "capacity" in errors
    response = client.post(url, _rows(row))
    assert "starts_at" in response.context["formset"].forms[0].errors, "already scheduled"
    assert SlotSchedule.objects.count() == 2
    page = client.get(url)
    assert "08:30" in page.content.decode()
    schedule = SlotSchedule.objects.first()
    assert client.post(reverse("referrals:schedule-remove", args=[schedule.pk])).status_code == 302
    assert SlotSchedule.objects.count() == 1
    assert login(setting.staff["clinician"]).get(url).status_code == 403


def _accept_form(response):
    (form,) = [form for act, _label, form in response.context["actions"] if act == "accept"]
    return form


def test_accept_without_a_free_slot_says_so_and_takes_a_time_with_a_reason(setting, login):
    ReferralSlot.objects.all().delete()
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    client = login(setting.staff["coordinator"])
    page = client.get(reverse("referrals:detail", args=[referral.pk])).content.decode()
    assert 'id="no-free-slot"' in page and reverse("referrals:schedule") in page
    when = (timezone.localtime() + datetime.timedelta(days=1)).replace(hour=16, minute=0)
    url = reverse("referrals:act", args=[referral.pk, "accept"])
    response = client.post(url, {"accept-appointment_at": when.strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 400
    assert "outside_schedule_reason" in _accept_form(response).errors
    response = client.post(url, {"accept-outside_schedule_reason": "加号"})
    assert response.status_code == 400 and _accept_form(response).non_field_errors()
    response = client.post(
        url, {"accept-appointment_at": when.strftime("%Y-%m-%dT%H:%M"), "accept-outside_schedule_reason": "主任加号，门诊后接诊"}
    )
    assert response.status_code == 302
    referral = Referral.objects.get(pk=referral.pk)
    assert referral.status == ReferralStatus.ACCEPTED and referral.slot_id is None
    assert referral.outside_schedule_reason == "主任加号，门诊后接诊"
    assert timezone.localtime(referral.appointment_at).strftime("%Y-%m-%d %H:%M") == when.strftime("%Y-%m-%d %H:%M")
    detail = client.get(reverse("referrals:detail", args=[referral.pk])).content.decode()
    assert 'id="outside-schedule"' in detail


def test_an_appointment_outside_the_schedule_is_in_the_future(setting):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    with pytest.raises(services.ReferralError) as error:
        services.accept_referral(
            referral.pk,
            actor=setting.coordinator,
            appointment_at=timezone.now() - datetime.timedelta(hours=1),
            outside_schedule_reason="加号",
        )
    assert error.value.field == "appointment_at"
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.SUBMITTED


def test_the_demo_has_open_slots_in_every_receiving_department():
    from config.demo import seed_demo_consortium
    from consortium.models import Department
    from referrals.selectors import open_slots

    seed_demo_consortium()
    receiving = Department.objects.filter(accepts_referrals=True)
    assert receiving.exists()
    for department in receiving:
        assert open_slots([department.pk]).exists(), department.name
