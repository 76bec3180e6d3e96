import datetime

import pytest
from django.utils import timezone

from chronic import services
from chronic.defaults import DIABETES, HYPERTENSION
from chronic.models import Enrolment, FollowUp, FollowUpStatus, TeamRole
from consortium.models import StaffRole
from tests.factories import DiagnosisFactory, EncounterFactory, PatientFactory, StaffFactory


class Chronic:
    """The test chain with chronic care: programmes, a township team with a village doctor, hypertensive patients."""

    def __init__(self, chain):
        self.chain = chain
        self.consortium = chain["consortium"]
        self.township, self.village, self.city = chain["township"], chain["village"], chain["city"]
        self.staff = dict(chain["staff"])
        self.clinician = self.staff["clinician"].user
        self.admin = self.staff["consortium_admin"].user
        self.staff["village_doctor"] = StaffFactory(
            user__username="village_doctor", institution=self.village, role=StaffRole.CLINIC_CLINICIAN, display_name="陈德明"
        )
        self.staff["other_village_doctor"] = StaffFactory(
            user__username="other_village_doctor", institution=self.village, role=StaffRole.CLINIC_CLINICIAN
        )
        self.staff["public_health"] = StaffFactory(
            user__username="public_health", institution=self.township, role=StaffRole.PUBLIC_HEALTH_WORKER, display_name="李芳"
        )
        self.village_doctor = self.staff["village_doctor"].user
        self.public_health = self.staff["public_health"].user
        self.hypertension = services.create_programme(
            actor=self.admin, consortium=self.consortium, code="hypertension", name="高血压患者健康管理", rules=HYPERTENSION
        )
        self.diabetes = services.create_programme(
            actor=self.admin, consortium=self.consortium, code="diabetes", name="2型糖尿病患者健康管理", rules=DIABETES
        )
        self.team = services.create_team(
            actor=self.public_health,
            institution=self.township,
            name="鸣凤一组",
            members=[
                (self.staff["clinician"], TeamRole.DOCTOR),
                (self.staff["village_doctor"], TeamRole.VILLAGE_DOCTOR),
                (self.staff["public_health"], TeamRole.PUBLIC_HEALTH),
            ],
        )
        self.other_team = services.create_team(
            actor=self.public_health,
            institution=self.township,
            name="鸣凤二组",
            members=[(self.staff["other_village_doctor"], TeamRole.VILLAGE_DOCTOR)],
        )

    def patient(self, code="I10", home=None, name="李四", **kwargs):
        patient = PatientFactory(home_institution=home or self.village, name=name, **kwargs)
        if code:
            encounter = EncounterFactory(patient=patient, institution=patient.home_institution, started_at=timezone.now())
            DiagnosisFactory(encounter=encounter, code=code, description="高血压")
        return patient

    def enrolled(self, patient=None, programme=None, team=None, when=None) -> Enrolment:
        patient = patient or self.patient()
        programme = programme or self.hypertension
        enrolment = services.add_candidate(
            actor=self.public_health, patient=patient, programme=programme, institution=patient.home_institution
        )
        return services.enrol(enrolment.pk, actor=self.public_health, team=team or self.team, now=when)

    def due(self, enrolment) -> FollowUp:
        return enrolment.follow_ups.get(status=FollowUpStatus.DUE)

    def record(self, enrolment, bp_systolic, bp_diastolic, actor=None, **kwargs) -> FollowUp:
        return services.record_follow_up(
            self.due(enrolment).pk,
            actor=actor or self.village_doctor,
            measurements={"bp_systolic": bp_systolic, "bp_diastolic": bp_diastolic},
            **kwargs,
        )


@pytest.fixture
def chronic(chain):
    return Chronic(chain)


@pytest.fixture
def today():
    return timezone.localdate()


@pytest.fixture
def days():
    return lambda n: datetime.timedelta(days=n)
