"""Enrolments and family-doctor contracts are the patient's: a merge moves them, an unmerge puts them back."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from chronic import services
from chronic.models import Contract, Enrolment, FollowUp
from records.models import PatientMerge
from records.services import merge_patients, unmerge_patients

pytestmark = pytest.mark.django_db

START = datetime.date(2026, 1, 1)


def _contract(chronic, holder, household=(), start=START):
    return services.sign_contract(
        actor=chronic.public_health,
        team=chronic.team,
        holder=holder,
        household=list(household),
        package="chronic",
        starts_on=start,
        ends_on=start.replace(year=start.year + 1),
        signature_method="handwritten",
    )


def test_merge_moves_enrolments_follow_ups_and_contracts_and_unmerge_puts_them_back(chronic):
    clerk = chronic.staff["clerk"].user
    survivor = chronic.patient(home=chronic.township, name="王五")
    duplicate = chronic.patient(home=chronic.township, name="王伍", resident_id="", birth_date=datetime.date(1960, 5, 1))
    spouse = chronic.patient(code="", home=chronic.township, name="赵六")
    enrolment = chronic.enrolled(duplicate)
    chronic.record(enrolment, "150", "95")
    diabetes = chronic.enrolled(survivor, programme=chronic.diabetes)
    own = _contract(chronic, duplicate)
    household = _contract(chronic, spouse, household=[duplicate], start=START.replace(year=2027))

    merge = merge_patients(actor=clerk, survivor=survivor, duplicate=duplicate)

    assert set(Enrolment.objects.filter(patient=survivor)) == {enrolment, diabetes}
    assert FollowUp.objects.filter(enrolment=enrolment).count() == 2  # the done one and the next one due, with it
    assert list(Contract.objects.filter(holder=survivor)) == [own]
    assert set(household.members.all()) == {spouse, survivor}
    assert set(own.members.all()) == {survivor}
    assert not Enrolment.objects.filter(patient=duplicate).exists()
    assert set(merge.moved["chronic_enrolments"]) == {enrolment.pk}
    assert merge.moved["chronic_contracts"] == [own.pk]
    assert len(merge.moved["chronic_contract_members"]) == 2

    unmerge_patients(actor=clerk, merge=merge)
    assert list(Enrolment.objects.filter(patient=duplicate)) == [enrolment]
    assert list(Enrolment.objects.filter(patient=survivor)) == [diabetes]
    assert list(Contract.objects.filter(holder=duplicate)) == [own]
    assert set(household.members.all()) == {spouse, duplicate}


def test_merge_refuses_two_enrolments_in_one_programme_and_writes_nothing(chronic):
    clerk = chronic.staff["clerk"].user
    survivor = chronic.patient(home=chronic.township, name="王五")
    duplicate = chronic.patient(home=chronic.township, name="王伍", resident_id="", birth_date=datetime.date(1960, 5, 1))
    kept, other = chronic.enrolled(survivor), chronic.enrolled(duplicate)
    with translation.override("en"), pytest.raises(ValidationError) as info:
        merge_patients(actor=clerk, survivor=survivor, duplicate=duplicate)
    assert "enrolments in the same programme" in " ".join(info.value.message_dict["duplicate"])
    duplicate.refresh_from_db()
    assert duplicate.merged_into is None
    assert not PatientMerge.objects.exists()
    assert list(Enrolment.objects.filter(patient=survivor)) == [kept]
    assert list(Enrolment.objects.filter(patient=duplicate)) == [other]


def test_merge_refuses_two_places_on_one_contract(chronic):
    clerk = chronic.staff["clerk"].user
    survivor = chronic.patient(code="", home=chronic.township, name="王五")
    duplicate = chronic.patient(code="", home=chronic.township, name="王伍", resident_id="", birth_date=datetime.date(1960, 5, 1))
    _contract(chronic, survivor, household=[duplicate])
    with translation.override("en"), pytest.raises(ValidationError) as info:
        merge_patients(actor=clerk, survivor=survivor, duplicate=duplicate)
    assert "places on the same family-doctor contract" in " ".join(info.value.message_dict["duplicate"])
