"""Enrolment in a scheme on the web (the clinic clerk) and the eligibility a patient page shows.

The checks are the admin's and the claim calculator's: one scheme per patient and year, a year
around the current one, an insurance number of the right shape that no other person holds (the
patient's own number, when recorded, must be the same), a premium to the fen, never negative.
"""

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from consortium.errors import Conflict, Invalid
from consortium.permissions import Action, require
from consortium.services import record_audit_event
from records.models import Patient

from .audit import InsuranceAudit
from .models import AssistanceGroup, Enrolment, Policy, PolicyStatus, Scheme

INSURANCE_NUMBER = re.compile(r"^[A-Z0-9]{6,32}$")
HOUSEHOLD_NUMBER = re.compile(r"^[A-Z0-9\-]{1,32}$")
MAX_PREMIUM = Decimal("99999.99")


@dataclass
class Eligibility:
    """What the patient page says about the patient's cover in ``year``."""

    year: int
    enrolment: Enrolment | None
    policy_in_force: bool

    @property
    def covered(self) -> bool:
        return self.enrolment is not None and self.policy_in_force


def eligibility(patient: Patient, year: int | None = None) -> Eligibility:
    year = year or timezone.localdate().year
    enrolment = Enrolment.objects.select_related("scheme").filter(patient=patient, year=year).first()
    in_force = (
        enrolment is not None
        and Policy.objects.filter(scheme=enrolment.scheme_id, year=year, status=PolicyStatus.IN_FORCE).exists()
    )
    return Eligibility(year=year, enrolment=enrolment, policy_in_force=in_force)


def enrol_patient(
    *,
    actor,
    patient: Patient,
    scheme: Scheme | None,
    year: int | None,
    insurance_number: str,
    household_number: str = "",
    premium_paid=None,
    premium_paid_on: datetime.date | None = None,
    assistance_group: str = "",
    now: datetime.datetime | None = None,
) -> Enrolment:
    """Enrol ``patient`` in ``scheme`` for ``year`` at their home clinic; each broken rule names its field."""
    now = now or timezone.now()
    require(actor, Action.REGISTER_PATIENT, patient.home_institution_id)
    today = timezone.localdate(now)
    if scheme is None:
        raise Invalid(gettext_lazy("Choose the scheme."), field="scheme")
    if not isinstance(year, int) or not today.year - 1 <= year <= today.year + 1:
        raise Invalid(gettext_lazy("Enrol for last year, this year or next year."), field="year")
    number = (insurance_number or "").strip().upper()
    if not INSURANCE_NUMBER.match(number):
        raise Invalid(gettext_lazy("An insurance number is 6 to 32 letters or digits."), field="insurance_number")
    household = (household_number or "").strip().upper()
    if household and not HOUSEHOLD_NUMBER.match(household):
        raise Invalid(gettext_lazy("A household number is up to 32 letters, digits or hyphens."), field="household_number")
    try:
        premium = Decimal(str(premium_paid if premium_paid not in (None, "") else "0"))
    except InvalidOperation:
        raise Invalid(gettext_lazy("The premium is an amount like 380.00."), field="premium_paid") from None
    if premium < 0 or premium > MAX_PREMIUM or premium != premium.quantize(Decimal("0.01")):
        raise Invalid(gettext_lazy("The premium is an amount like 380.00."), field="premium_paid")
    if premium_paid_on is not None and premium_paid_on > today:
        raise Invalid(gettext_lazy("The premium was paid today or earlier."), field="premium_paid_on")
    if assistance_group and assistance_group not in AssistanceGroup.values:
        raise Invalid(gettext_lazy("Choose a valid assistance group."), field="assistance_group")
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        if patient.insurance_number and patient.insurance_number != number:
            raise Invalid(
                gettext_lazy("The patient's insurance number is another one; correct the patient's details first."),
                field="insurance_number",
            )
        if Patient.objects.filter(insurance_number=number).exclude(pk=patient.pk).exists() or (
            Enrolment.objects.filter(insurance_number=number).exclude(patient=patient).exists()
        ):
            raise Conflict(gettext_lazy("Another person holds this insurance number."), field="insurance_number")
        if Enrolment.objects.filter(patient=patient, year=year).exists():
            raise Conflict(gettext_lazy("The patient is already enrolled for this year."), field="year")
        try:
            with transaction.atomic():
                enrolment = Enrolment.objects.create(
                    patient=patient,
                    scheme=scheme,
                    year=year,
                    insurance_number=number,
                    household_number=household,
                    premium_paid=premium.quantize(Decimal("0.01")),
                    premium_paid_on=premium_paid_on,
                    assistance_group=assistance_group,
                    enrolled_by=actor,
                    enrolled_at=now,
                )
        except IntegrityError:
            raise Conflict(gettext_lazy("The patient is already enrolled for this year."), field="year") from None
        if not patient.insurance_number:
            Patient.objects.filter(pk=patient.pk).update(insurance_number=number, updated_at=now)
        record_audit_event(
            actor=actor,
            action=InsuranceAudit.ENROLMENT_RECORDED,
            obj=enrolment,
            institution=patient.home_institution,
            detail={"scheme": scheme.code, "year": year, "premium_paid": str(enrolment.premium_paid)},
        )
    return enrolment
