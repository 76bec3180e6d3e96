"""Screening, follow-ups, versions, the way back from hospital and contracts, with what each writes."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection

from chronic import services
from chronic.defaults import HYPERTENSION
from chronic.models import Enrolment, EnrolmentSource, EnrolmentStatus, FollowUp, FollowUpStatus, ProgrammeVersion
from chronic.screening import screen_candidates
from chronic.tasks import process_discharges
from consortium.errors import Invalid, NotPermitted
from consortium.models import OutboxEvent, OutboxEventType
from records.models import Encounter, EncounterKind, Observation, Prescription
from tests.factories import DiagnosisFactory, EncounterFactory, PatientFactory

pytestmark = pytest.mark.django_db


# --- screening ------------------------------------------------------------------------------------


def test_screening_finds_matching_patients_once(chronic):
    hypertensive = chronic.patient("I11.9")
    diabetic = chronic.patient("E11.9", name="王五")
    both = chronic.patient("I10", name="赵六")
    DiagnosisFactory(encounter=both.encounters.get(), code="E11.9", description="2型糖尿病")
    chronic.patient("J06.9", name="孙七")  # a cold is no programme's
    PatientFactory(home_institution=chronic.chain["outsider"], name="外人")  # outside the consortium
    outsider = chronic.patient("I10", home=chronic.chain["outsider"], name="外人二")

    assert screen_candidates() == {"diabetes": 2, "hypertension": 2}
    assert screen_candidates() == {"diabetes": 0, "hypertension": 0}  # idempotent
    rows = set(Enrolment.objects.values_list("patient_id", "programme__code", "status", "institution_id"))
    v = chronic.village.pk
    assert rows == {
        (hypertensive.pk, "hypertension", "candidate", v),
        (both.pk, "hypertension", "candidate", v),
        (diabetic.pk, "diabetes", "candidate", v),
        (both.pk, "diabetes", "candidate", v),
    }
    assert not Enrolment.objects.filter(patient=outsider).exists()
    assert Enrolment.objects.get(patient=hypertensive).source_encounter == hypertensive.encounters.get()


def test_screening_never_re_adds_a_declined_or_enrolled_patient(chronic):
    patient = chronic.patient("I10")
    screen_candidates()
    enrolment = Enrolment.objects.get(patient=patient, programme=chronic.hypertension)
    services.decline(enrolment.pk, actor=chronic.public_health, reason="诊断未确认")
    EncounterFactory(patient=patient)  # a new visit
    assert screen_candidates()["hypertension"] == 0
    assert Enrolment.objects.filter(patient=patient).count() == 1


def test_screening_by_measurement_inclusion(chronic):
    rules = {**HYPERTENSION, "inclusion": {"codes": [], "measurements": [{"key": "bp_systolic", "op": ">=", "value": "140"}]}}
    services.save_programme_rules(actor=chronic.admin, programme_id=chronic.hypertension.pk, name="高血压", rules=rules)
    high, normal = chronic.patient(None, name="高"), chronic.patient(None, name="低")
    for patient, value in ((high, "152"), (normal, "128")):
        encounter = EncounterFactory(patient=patient)
        Observation.objects.create(encounter=encounter, code="8480-6", name="收缩压", value=Decimal(value), unit="mmHg")
    screen_candidates(programme_ids=[chronic.hypertension.pk])
    assert list(Enrolment.objects.values_list("patient_id", flat=True)) == [high.pk]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent screening runs need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_screenings_at_once_add_nobody_twice(chain):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    from tests.chronic.conftest import Chronic

    chronic = Chronic(chain)
    for n in range(30):
        chronic.patient("I10", name=f"患者{n}")

    def run():
        try:
            return screen_candidates()["hypertension"]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool:
        counts = list(pool.map(lambda _n: run(), range(2)))
    assert sum(counts) == 30
    assert Enrolment.objects.count() == 30


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the composite (version, programme) foreign key is PostgreSQL's")
def test_an_enrolment_version_must_be_one_of_its_programmes_versions(chronic):
    """One deferred check of (version, programme) stands for the two foreign keys the screening no longer pays for."""
    from django.db import IntegrityError, transaction

    patient = chronic.patient("I10")
    screen_candidates()
    enrolment = Enrolment.objects.get(patient=patient, programme=chronic.hypertension)
    diabetes_version = ProgrammeVersion.objects.get(programme=chronic.diabetes)
    for wrong in ({"version": diabetes_version}, {"programme_id": 0}, {"version_id": 0}):
        with pytest.raises(IntegrityError), transaction.atomic():
            Enrolment.objects.filter(pk=enrolment.pk).update(**wrong)
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # deferred to the commit otherwise
    with transaction.atomic():
        Enrolment.objects.filter(pk=enrolment.pk).update(version=ProgrammeVersion.objects.get(programme=chronic.hypertension))
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


# --- follow-ups -----------------------------------------------------------------------------------


def test_enrolment_schedules_the_first_follow_up_today(chronic, today):
    enrolment = chronic.enrolled()
    assert enrolment.status == EnrolmentStatus.ENROLLED
    assert enrolment.enrolled_on == today and enrolment.next_due_on == today
    assert chronic.due(enrolment).due_on == today
    assert enrolment.risk_level == "low"


def test_a_follow_up_records_the_visit_classifies_and_schedules(chronic, today, days):
    enrolment = chronic.enrolled()
    done = chronic.record(enrolment, "132", "84")
    assert (done.status, done.control, done.trigger) == (FollowUpStatus.DONE, "controlled", "")
    assert done.measurements == {"bp_systolic": "132", "bp_diastolic": "84"}
    visit = done.encounter
    assert visit.kind == EncounterKind.FOLLOW_UP and visit.institution == chronic.village
    assert set(visit.observations.values_list("code", "value")) == {("8480-6", Decimal("132")), ("8462-4", Decimal("84"))}
    enrolment.refresh_from_db()
    assert enrolment.next_due_on == today + days(91)
    assert chronic.due(enrolment).due_on == today + days(91)
    event = OutboxEvent.objects.get(
        event_type=OutboxEventType.CHRONIC, aggregate_type="chronic.followup", aggregate_id=str(done.pk)
    )
    assert event.payload["control"] == "controlled" and event.payload["encounter_id"] == visit.pk


def test_two_uncontrolled_in_a_row_trigger_and_danger_triggers_at_once(chronic, today, days):
    enrolment = chronic.enrolled()
    first = chronic.record(enrolment, "150", "95")
    assert (first.control, first.trigger) == ("uncontrolled", "")
    enrolment.refresh_from_db()
    assert enrolment.next_due_on == today + days(14)
    assert enrolment.risk_level == "medium"
    second = chronic.record(enrolment, "156", "96")
    assert (second.control, second.trigger) == ("uncontrolled", "consecutive")
    third = chronic.record(enrolment, "186", "100")
    assert (third.control, third.trigger, third.risk_level) == ("danger", "danger", "high")


def test_an_implausible_value_names_the_field_and_writes_nothing(chronic):
    enrolment = chronic.enrolled()
    due = chronic.due(enrolment)
    visits = Encounter.objects.count()
    with pytest.raises(Invalid) as error:
        services.record_follow_up(
            due.pk, actor=chronic.village_doctor, measurements={"bp_systolic": "1400", "bp_diastolic": "85"}
        )
    assert error.value.field == "bp_systolic" and "1400" in error.value.message
    with pytest.raises(Invalid) as error:
        services.record_follow_up(due.pk, actor=chronic.village_doctor, measurements={"bp_systolic": "140"})
    assert error.value.field == "bp_diastolic"
    with pytest.raises(Invalid) as error:
        services.record_follow_up(
            due.pk, actor=chronic.village_doctor, measurements={"bp_systolic": "140", "bp_diastolic": "80", "fbg": "6"}
        )
    assert error.value.field == "fbg"
    due.refresh_from_db()
    assert due.status == FollowUpStatus.DUE
    assert Encounter.objects.count() == visits


def test_a_follow_up_visit_recorded_at_the_clinic_is_the_same_follow_up(chronic):
    enrolment = chronic.enrolled()
    visit = EncounterFactory(patient=enrolment.patient, institution=chronic.village, kind=EncounterKind.FOLLOW_UP)
    Observation.objects.create(encounter=visit, code="8480-6", name="收缩压", value=Decimal("128"), unit="mmHg")
    Observation.objects.create(encounter=visit, code="8462-4", name="舒张压", value=Decimal("82"), unit="mmHg")
    visits = Encounter.objects.count()
    done = services.record_follow_up(chronic.due(enrolment).pk, actor=chronic.village_doctor, measurements={}, encounter=visit)
    assert done.encounter == visit and done.control == "controlled"
    assert done.measurements == {"bp_systolic": "128", "bp_diastolic": "82"}
    assert Encounter.objects.count() == visits
    # the visit cannot become a second follow-up
    with pytest.raises(Invalid) as error:
        services.record_follow_up(chronic.due(enrolment).pk, actor=chronic.village_doctor, measurements={}, encounter=visit)
    assert error.value.field == "encounter"


def test_a_new_version_does_not_rewrite_past_follow_ups(chronic):
    enrolment = chronic.enrolled()
    past = chronic.record(enrolment, "142", "85")
    assert past.control == "uncontrolled" and past.version.number == 1
    looser = {
        **HYPERTENSION,
        "targets": [{"key": "bp_systolic", "op": "<", "value": "150"}, {"key": "bp_diastolic", "op": "<", "value": "90"}],
    }
    version = services.save_programme_rules(
        actor=chronic.admin, programme_id=chronic.hypertension.pk, name="高血压", rules=looser, note="老年患者目标放宽"
    )
    assert version.number == 2  # version 1 was used: a new one
    assert ProgrammeVersion.objects.get(programme=chronic.hypertension, number=1).rules == HYPERTENSION
    later = chronic.record(enrolment, "142", "85")
    assert later.control == "controlled" and later.version == version
    past.refresh_from_db()
    assert (past.control, past.version.number) == ("uncontrolled", 1)
    # an unused version is edited in place
    again = services.save_programme_rules(
        actor=chronic.admin, programme_id=chronic.diabetes.pk, name="糖尿病", rules=chronic.diabetes.versions.get().rules
    )
    assert again.number == 1


def test_programmes_are_configured_by_consortium_administrators_only(chronic):
    with pytest.raises(NotPermitted):
        services.save_programme_rules(
            actor=chronic.public_health, programme_id=chronic.hypertension.pk, name="x", rules=HYPERTENSION
        )
    with pytest.raises(Invalid) as error:
        services.save_programme_rules(
            actor=chronic.admin, programme_id=chronic.hypertension.pk, name="高血压", rules={**HYPERTENSION, "targets": []}
        )
    assert error.value.field == "targets"


def test_missed_follow_ups_are_marked_by_the_nightly_sweep(chronic, today, days, now):
    enrolment = chronic.enrolled(when=now - days(20))
    assert services.mark_missed_follow_ups() == 1
    missed = enrolment.follow_ups.get(status=FollowUpStatus.MISSED)
    assert missed.due_on == today - days(20)
    assert chronic.due(enrolment).due_on == today + days(7)
    assert services.mark_missed_follow_ups() == 0


# --- back down the chain --------------------------------------------------------------------------


def _discharge_event(patient, hospital, clinic, referral_id=9001):
    from django.db import transaction

    from consortium.services import record_outbox_event

    class Downward:  # the outbox row names a referral of the referral app; chronic reads only the row
        pk = referral_id

        class _meta:
            label_lower = "referrals.referral"

    with transaction.atomic():
        return record_outbox_event(
            event_type=OutboxEventType.DISCHARGE,
            obj=Downward,
            patient_id=patient.pk,
            institution=hospital,
            payload={
                "referral_id": referral_id,
                "direction": "down",
                "from_institution": hospital.code,
                "to_institution": clinic.code,
            },
        )


def test_a_discharge_brings_the_plan_back_with_medication_and_a_visit_soon(chronic, today, days):
    enrolment = chronic.enrolled()
    chronic.record(enrolment, "132", "84")  # next due in 91 days
    stay = EncounterFactory(patient=enrolment.patient, institution=chronic.city, kind=EncounterKind.INPATIENT)
    Prescription.objects.create(encounter=stay, drug_name="氨氯地平片", dose="5mg", frequency="每日一次")
    _discharge_event(enrolment.patient, chronic.city, chronic.village)
    assert process_discharges() == 1
    enrolment.refresh_from_db()
    assert enrolment.medication_plan == "氨氯地平片 5mg 每日一次"
    assert enrolment.returned_from_referral == 9001
    assert enrolment.next_due_on == today + days(14) == chronic.due(enrolment).due_on
    assert process_discharges() == 0  # the cursor moved on
    assert (
        services.return_from_hospital(
            patient_id=enrolment.patient_id, referral_id=9001, hospital_id=chronic.city.pk, clinic_id=chronic.village.pk
        )
        == []
    )


def test_a_discharged_patient_on_no_programme_is_offered_at_the_receiving_clinic(chronic):
    patient = chronic.patient("I10", home=chronic.village)
    _discharge_event(patient, chronic.city, chronic.township, referral_id=9002)
    process_discharges()
    enrolment = Enrolment.objects.get(patient=patient)
    assert (enrolment.status, enrolment.source, enrolment.institution) == (
        "candidate",
        EnrolmentSource.DISCHARGE,
        chronic.township,
    )


# --- contracts ------------------------------------------------------------------------------------


def test_a_household_contract_and_its_renewal(chronic, today, days):
    holder, spouse = chronic.patient(None, name="户主"), chronic.patient(None, name="配偶")
    contract = services.sign_contract(
        actor=chronic.village_doctor,
        team=chronic.team,
        holder=holder,
        household=[spouse],
        package="chronic",
        starts_on=today,
        ends_on=today + days(365),
        signature_method="fingerprint",
    )
    assert contract.kind == "household" and set(contract.members.all()) == {holder, spouse}
    with pytest.raises(Invalid) as error:
        services.sign_contract(
            actor=chronic.village_doctor,
            team=chronic.team,
            holder=spouse,
            package="basic",
            starts_on=today + days(30),
            ends_on=today + days(200),
            signature_method="handwritten",
        )
    assert error.value.field == "holder"
    renewal = services.renew_contract(
        contract.pk, actor=chronic.village_doctor, ends_on=today + days(730), signature_method="electronic"
    )
    contract.refresh_from_db()
    assert contract.status == "renewed" and renewal.renewed_from == contract
    assert (renewal.starts_on, renewal.status) == (contract.ends_on, "signed")
    assert set(renewal.members.all()) == {holder, spouse}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ends_on": "same"}, "ends_on"),
        ({"ends_on": "far"}, "ends_on"),
        ({"package": "gold"}, "package"),
        ({"signature_method": "nod"}, "signature_method"),
    ],
)
def test_contract_input_errors_name_the_field(chronic, today, days, change, field):
    values = {"package": "basic", "starts_on": today, "ends_on": today + days(365), "signature_method": "handwritten"}
    values.update(change)
    values["ends_on"] = {"same": today, "far": today + days(3000)}.get(values["ends_on"], values["ends_on"])
    with pytest.raises(Invalid) as error:
        services.sign_contract(actor=chronic.public_health, team=chronic.team, holder=chronic.patient(None), **values)
    assert error.value.field == field


def test_a_contract_outside_the_teams_catchment_is_refused(chronic, today, days):
    stranger = chronic.patient(None, home=chronic.city)
    with pytest.raises(Invalid):
        services.sign_contract(
            actor=chronic.public_health,
            team=chronic.team,
            holder=stranger,
            package="basic",
            starts_on=today,
            ends_on=today + days(365),
            signature_method="handwritten",
        )


def test_a_follow_up_for_a_future_day_or_before_enrolment_is_refused(chronic, today, days):
    enrolment = chronic.enrolled()
    due = chronic.due(enrolment)
    for day, field in ((today + days(1), "done_on"), (today - days(3), "done_on")):
        with pytest.raises(Invalid) as error:
            services.record_follow_up(
                due.pk, actor=chronic.village_doctor, measurements={"bp_systolic": "130", "bp_diastolic": "80"}, done_on=day
            )
        assert error.value.field == field
    assert FollowUp.objects.filter(status=FollowUpStatus.DONE).count() == 0


def test_leaving_the_programme_removes_the_open_follow_up(chronic):
    enrolment = chronic.enrolled()
    services.leave_programme(enrolment.pk, actor=chronic.public_health, reason="死亡")
    assert not enrolment.follow_ups.filter(status=FollowUpStatus.DUE).exists()
    with pytest.raises(Invalid):
        services.leave_programme(enrolment.pk, actor=chronic.public_health, reason=" ")


def test_the_care_team_may_read_the_patient_record(chronic):
    from records.access import can_read_patient

    patient = chronic.patient(home=chronic.village)
    clinician = chronic.clinician  # township doctor on the team
    assert not can_read_patient(clinician, patient)
    chronic.enrolled(patient=patient)
    decision = can_read_patient(clinician, patient)
    assert decision and decision.reason == "care_team"
    assert not can_read_patient(chronic.staff["outsider"].user, patient)
    _ = datetime
