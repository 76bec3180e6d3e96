"""The eligibility check an insurance office asks before or while adjudicating: is this insurance
number enrolled, in which scheme, and what is left of this year's deductible and ceilings.

Scoped like every office read: only enrolments in the schemes the office administers and of
residents whose home institution is in its region; anything else is answered "not enrolled", the
same as an unknown number, so an office never learns of another scheme's members. Every check is
audited as a read (the number itself is not written to the audit log, only the enrolment found).
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from consortium.models import InstitutionLevel
from consortium.services import record_audit_event

from .audit import InsuranceAudit
from .calculator import ZERO
from .models import Accumulator, Enrolment, OfficeScheme, Policy, PolicyStatus


@dataclass
class LevelRemaining:
    level: str
    deductible: Decimal
    deductible_remaining: Decimal
    ceiling: Decimal
    ceiling_remaining: Decimal


@dataclass
class Eligibility:
    insurance_number: str
    year: int
    enrolled: bool
    scheme: str | None = None
    scheme_name: str | None = None
    policy_version: int | None = None
    special_disease: bool = False
    assistance_group: str = ""
    deductible_per_admission: bool = False
    levels: list[LevelRemaining] = field(default_factory=list)
    outpatient_deductible_remaining: Decimal | None = None
    outpatient_cap_remaining: Decimal | None = None
    special_disease_cap_remaining: Decimal | None = None
    checked_at: object = None


def check_eligibility(*, office, actor, insurance_number: str, year: int | None = None) -> Eligibility:
    """The enrolment of ``insurance_number`` in ``year`` (default: this year) as ``office`` may see it."""
    year = year or timezone.localdate().year
    now = timezone.now()
    enrolment = (
        Enrolment.objects.select_related("scheme", "patient__home_institution")
        .filter(
            insurance_number=insurance_number,
            year=year,
            scheme__in=OfficeScheme.objects.filter(office=office).values("scheme_id"),
        )
        .first()
    )
    if enrolment is not None and not office.covers_region(enrolment.patient.home_institution.region_code):
        enrolment = None
    result = Eligibility(insurance_number=insurance_number, year=year, enrolled=enrolment is not None, checked_at=now)
    if enrolment is not None:
        _fill(result, enrolment)
    record_audit_event(
        actor=actor,
        action=InsuranceAudit.ELIGIBILITY_CHECKED,
        obj=enrolment if enrolment is not None else office,
        institution=enrolment.patient.home_institution if enrolment is not None else None,
        detail={"year": year, "enrolled": result.enrolled, "scheme": result.scheme, "office": office.pk},
    )
    return result


def _fill(result: Eligibility, enrolment: Enrolment) -> None:
    result.scheme = enrolment.scheme.code
    result.scheme_name = enrolment.scheme.name
    result.special_disease = enrolment.special_disease
    result.assistance_group = enrolment.assistance_group
    policy = (
        Policy.objects.prefetch_related("level_rules")
        .filter(scheme=enrolment.scheme, year=enrolment.year, status=PolicyStatus.IN_FORCE)
        .first()
    )
    used = Accumulator.objects.filter(patient=enrolment.patient, scheme=enrolment.scheme, year=enrolment.year).first()
    used = used or Accumulator(patient=enrolment.patient, scheme=enrolment.scheme, year=enrolment.year)
    if policy is None:
        return
    result.policy_version = policy.version
    result.deductible_per_admission = policy.deductible_per_admission
    ranks = {level: index for index, level in enumerate(InstitutionLevel.values)}
    for rule in sorted(policy.level_rules.all(), key=lambda r: ranks.get(r.level, 99)):
        if policy.deductible_per_admission:
            later = used.admissions > 0 and rule.later_admission_deductible is not None
            deductible = rule.later_admission_deductible if later else rule.deductible
            remaining = deductible
        else:
            deductible = rule.deductible
            remaining = max(ZERO, rule.deductible - used.deductible_paid)
        ceiling = policy.annual_ceiling if policy.annual_ceiling is not None else rule.annual_ceiling
        result.levels.append(
            LevelRemaining(
                level=rule.level,
                deductible=deductible,
                deductible_remaining=remaining,
                ceiling=ceiling,
                ceiling_remaining=max(ZERO, ceiling - used.reimbursed),
            )
        )
    if policy.outpatient_pooling:
        result.outpatient_deductible_remaining = max(ZERO, policy.outpatient_deductible - used.outpatient_deductible_paid)
        result.outpatient_cap_remaining = max(ZERO, policy.outpatient_annual_cap - used.outpatient_reimbursed)
    if policy.special_disease_annual_cap is not None and enrolment.special_disease:
        result.special_disease_cap_remaining = max(ZERO, policy.special_disease_annual_cap - used.special_reimbursed)
