import datetime

import pytest
from django.utils import timezone

from consortium.models import InstitutionLevel
from referrals import services
from referrals.models import ReferralSlot, ReferralStatus
from tests.factories import (
    DepartmentFactory,
    DiagnosisFactory,
    EncounterFactory,
    InstitutionFactory,
    MembershipFactory,
    PatientFactory,
)

#: How to bring a fresh submitted referral to each status: the actions, in order, and who takes them.
PATHS = {
    ReferralStatus.DRAFT: [],
    ReferralStatus.SUBMITTED: ["submit"],
    ReferralStatus.UNDER_REVIEW: ["submit", "review"],
    ReferralStatus.ACCEPTED: ["submit", "accept"],
    ReferralStatus.REJECTED: ["submit", "reject"],
    ReferralStatus.REDIRECTED: ["submit", "redirect"],
    ReferralStatus.ARRIVED: ["submit", "accept", "arrive"],
    ReferralStatus.IN_TREATMENT: ["submit", "accept", "arrive", "start_treatment"],
    ReferralStatus.COMPLETED: ["submit", "accept", "arrive", "start_treatment", "complete"],
    ReferralStatus.CANCELLED: ["cancel"],
    ReferralStatus.EXPIRED: ["submit", "expire"],
}


class Setting:
    """A chain with a city hospital taking referrals in two departments, capacity and a patient with a visit."""

    def __init__(self, chain):
        self.chain = chain
        self.city = chain["city"]
        self.township = chain["township"]
        self.county = InstitutionFactory(code="COUNTY", name="县人民医院", level=InstitutionLevel.COUNTY_HOSPITAL)
        MembershipFactory(consortium=chain["consortium"], institution=self.county)
        self.cardiology = DepartmentFactory(institution=self.city, code="CARD", name="心内科", accepts_referrals=True)
        self.neurology = DepartmentFactory(institution=self.city, code="NEUR", name="神经内科", accepts_referrals=True)
        self.county_medicine = DepartmentFactory(institution=self.county, code="MED", name="内科", accepts_referrals=True)
        self.pharmacy = DepartmentFactory(institution=self.city, code="PHAR", name="药剂科", accepts_referrals=False)
        self.patient = PatientFactory(home_institution=self.township, name="李四")
        self.encounter = EncounterFactory(patient=self.patient, institution=self.township)
        DiagnosisFactory(encounter=self.encounter, code="I10", description="原发性高血压")
        self.slot = ReferralSlot.objects.create(
            department=self.cardiology, starts_at=timezone.now() + datetime.timedelta(days=2), capacity=3
        )
        self.staff = chain["staff"]
        self.clinician = self.staff["clinician"].user
        self.coordinator = self.staff["coordinator"].user
        self.hospital_admin = self.staff["hospital_admin"].user

    def draft(self, **kwargs):
        options = {
            "actor": self.clinician,
            "patient": self.patient,
            "source_encounter": self.encounter,
            "to_department": self.cardiology,
            "urgency": "urgent",
            "reason": "血压控制不佳，需专科评估",
            "submit": False,
        }
        options.update(kwargs)
        return services.create_referral(**options)

    def take(self, referral, act, actor=None, **kwargs):
        """Take one action with the actor the table expects."""
        pk = referral.pk
        if act == "submit":
            return services.submit_referral(pk, actor=actor or self.clinician, **kwargs)
        if act == "cancel":
            return services.cancel_referral(pk, actor=actor or self.clinician, **kwargs)
        if act == "review":
            return services.start_review(pk, actor=actor or self.coordinator, **kwargs)
        if act == "accept":
            kwargs.setdefault("slot_id", self.slot.pk)
            return services.accept_referral(pk, actor=actor or self.coordinator, **kwargs)
        if act == "reject":
            kwargs.setdefault("reason", "本院床位已满")
            return services.reject_referral(pk, actor=actor or self.coordinator, **kwargs)
        if act == "redirect":
            kwargs.setdefault("reason", "更适合神经内科")
            kwargs.setdefault("to_department", self.neurology)
            return services.redirect_referral(pk, actor=actor or self.coordinator, **kwargs)
        if act == "arrive":
            return services.record_arrival(pk, actor=actor or self.coordinator, **kwargs)
        if act == "start_treatment":
            return services.start_treatment(pk, actor=actor or self.coordinator, **kwargs)
        if act == "complete":
            return services.complete_referral(pk, actor=actor or self.coordinator, **kwargs)
        if act == "expire":
            return services.expire_referral(pk, **kwargs)
        raise AssertionError(act)

    def referral_in(self, status):
        referral = self.draft()
        for act in PATHS[status]:
            referral = self.take(referral, act)
        referral.refresh_from_db()
        assert referral.status == status
        return referral


@pytest.fixture
def setting(chain):
    return Setting(chain)
