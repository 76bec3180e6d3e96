"""Referral capacity: accepting books a place, a full slot refuses, concurrent accepts never double-book."""

import datetime
import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from consortium.problems import status_of
from referrals import services
from referrals.models import ReferralSlot, ReferralStatus
from tests.factories import DepartmentFactory

from .conftest import Setting


@pytest.mark.django_db
def test_full_slot_refuses_and_changes_nothing(setting):
    setting.slot.capacity = 1
    setting.slot.save()
    first = setting.referral_in(ReferralStatus.SUBMITTED)
    second = setting.referral_in(ReferralStatus.SUBMITTED)
    setting.take(first, "accept")
    with pytest.raises(services.SlotUnavailable) as error:
        setting.take(second, "accept")
    assert error.value.field == "slot" and status_of(error.value) == 409
    second.refresh_from_db()
    setting.slot.refresh_from_db()
    assert (second.status, second.slot_id, setting.slot.booked) == (ReferralStatus.SUBMITTED, None, 1)


@pytest.mark.django_db
def test_accept_needs_a_slot_of_the_own_institution_in_the_future(setting, chain):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    elsewhere = ReferralSlot.objects.create(
        department=setting.county_medicine, starts_at=timezone.now() + datetime.timedelta(days=1), capacity=5
    )
    past = ReferralSlot.objects.create(
        department=setting.cardiology, starts_at=timezone.now() - datetime.timedelta(hours=1), capacity=5
    )
    for slot_id in (None, elsewhere.pk, past.pk, 999999):
        with pytest.raises(services.ReferralError) as error:
            setting.take(referral, "accept", slot_id=slot_id)
        assert error.value.field == "slot"
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.SUBMITTED
    assert not ReferralSlot.objects.filter(booked__gt=0).exists()


@pytest.mark.django_db
def test_accepting_into_another_department_moves_the_referral(setting):
    slot = ReferralSlot.objects.create(
        department=setting.neurology, starts_at=timezone.now() + datetime.timedelta(days=1), capacity=1
    )
    referral = setting.take(setting.referral_in(ReferralStatus.SUBMITTED), "accept", slot_id=slot.pk)
    assert referral.to_department == setting.neurology


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"capacity": 0}, "capacity"),
        ({"capacity": 501}, "capacity"),
        ({"starts_at": timezone.now() - datetime.timedelta(minutes=1)}, "starts_at"),
        ({"department": "pharmacy"}, "department"),
    ],
)
def test_opening_a_bad_slot_is_refused(setting, changes, field):
    options = {"department": setting.cardiology, "starts_at": timezone.now() + datetime.timedelta(days=3), "capacity": 2}
    options.update(changes)
    if options["department"] == "pharmacy":
        options["department"] = setting.pharmacy
    before = ReferralSlot.objects.count()
    with pytest.raises(services.ReferralError) as error:
        services.open_referral_slot(actor=setting.coordinator, **options)
    assert error.value.field == field
    assert ReferralSlot.objects.count() == before


@pytest.mark.django_db
def test_only_own_triage_staff_open_slots(setting, chain):
    other = DepartmentFactory(institution=setting.county, accepts_referrals=True)
    with pytest.raises(services.PermissionDenied):
        services.open_referral_slot(
            actor=setting.coordinator, department=other, starts_at=timezone.now() + datetime.timedelta(days=1), capacity=1
        )


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="real row-lock concurrency needs PostgreSQL (SQLite serialises writers)"
)
@pytest.mark.django_db(transaction=True)
def test_two_coordinators_accepting_the_last_place_at_once(chain):
    setting = Setting(chain)
    setting.slot.capacity = 1
    setting.slot.save()
    referrals = [setting.referral_in(ReferralStatus.SUBMITTED) for _ in range(2)]
    actors = [setting.coordinator, setting.hospital_admin]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def accept(referral, actor):
        try:
            barrier.wait(timeout=10)
            services.accept_referral(referral.pk, actor=actor, slot_id=setting.slot.pk)
            outcomes.append("won")
        except services.SlotUnavailable:
            outcomes.append("slot full")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=accept, args=pair) for pair in zip(referrals, actors, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["slot full", "won"]
    setting.slot.refresh_from_db()
    assert setting.slot.booked == 1
    statuses = sorted(r.status for r in type(referrals[0]).objects.filter(pk__in=[r.pk for r in referrals]))
    assert statuses == [ReferralStatus.ACCEPTED, ReferralStatus.SUBMITTED]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="real row-lock concurrency needs PostgreSQL (SQLite serialises writers)"
)
@pytest.mark.django_db(transaction=True)
def test_two_coordinators_deciding_the_same_referral_at_once(chain):
    setting = Setting(chain)
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(act, actor):
        try:
            barrier.wait(timeout=10)
            setting.take(referral, act, actor=actor)
            outcomes.append(act)
        except services.IllegalTransition:
            outcomes.append("illegal")
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=decide, args=("accept", setting.coordinator)),
        threading.Thread(target=decide, args=("reject", setting.hospital_admin)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert "illegal" in outcomes and len(outcomes) == 2
    referral.refresh_from_db()
    setting.slot.refresh_from_db()
    assert setting.slot.booked == (1 if referral.status == ReferralStatus.ACCEPTED else 0)
    assert referral.events.filter(action__in=["accept", "reject"]).count() == 1
