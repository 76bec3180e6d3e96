"""Demo insurance data: published policies for last year and this year, office schemes, enrolments, claims.

Deterministic and idempotent: running it again changes nothing. The numbers are realistic
examples (ratios fall and deductibles rise with the institution level) and live in Policy rows.
"""

import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from consortium.errors import ApplicationError
from consortium.models import InstitutionLevel, InsuranceOffice
from consortium.permissions import SYSTEM
from records.models import Encounter, Patient

from . import services
from .models import Enrolment, OfficeScheme, Policy, PolicyLevelRule, Scheme

#: scheme -> level -> (deductible, ratio, ratio without referral, annual ceiling)
DEMO_TERMS = {
    "URRBMI": {
        InstitutionLevel.VILLAGE_CLINIC: ("0", "0.90", "0.90", "150000"),
        InstitutionLevel.TOWNSHIP_HEALTH_CENTRE: ("100", "0.85", "0.85", "150000"),
        InstitutionLevel.COUNTY_HOSPITAL: ("400", "0.75", "0.60", "150000"),
        InstitutionLevel.CITY_HOSPITAL: ("800", "0.55", "0.40", "150000"),
    },
    "UEBMI": {
        InstitutionLevel.VILLAGE_CLINIC: ("0", "0.95", "0.95", "300000"),
        InstitutionLevel.TOWNSHIP_HEALTH_CENTRE: ("200", "0.90", "0.90", "300000"),
        InstitutionLevel.COUNTY_HOSPITAL: ("600", "0.85", "0.70", "300000"),
        InstitutionLevel.CITY_HOSPITAL: ("1000", "0.80", "0.60", "300000"),
    },
}
DEMO_CLAIM_DAYS = 30


def seed_insurance_demo(today: datetime.date | None = None) -> dict[str, int]:
    today = today or timezone.localdate()
    created = {"policies": 0, "office schemes": 0, "enrolments": 0, "claims": 0}
    with transaction.atomic():
        schemes = {code: Scheme.objects.get_or_create(code=code, defaults={"name": code})[0] for code in DEMO_TERMS}
        for year in (today.year - 1, today.year):
            for code, levels in DEMO_TERMS.items():
                if Policy.objects.filter(scheme=schemes[code], year=year).exists():
                    continue
                policy = Policy.objects.create(scheme=schemes[code], year=year, class_b_self_pay_share=Decimal("0.10"))
                for level, (deductible, ratio, unreferred, ceiling) in levels.items():
                    PolicyLevelRule.objects.create(
                        policy=policy, level=level, deductible=Decimal(deductible), ratio=Decimal(ratio),
                        unreferred_ratio=Decimal(unreferred), annual_ceiling=Decimal(ceiling),
                    )  # fmt: skip
                services.publish_policy(policy=policy, actor=SYSTEM)
                created["policies"] += 1
        for office in InsuranceOffice.objects.all():
            for scheme in schemes.values():
                created["office schemes"] += OfficeScheme.objects.get_or_create(office=office, scheme=scheme)[1]
        patients = Patient.objects.exclude(insurance_number="").select_related("home_institution")
        for year in (today.year - 1, today.year):
            enrolled = set(Enrolment.objects.filter(year=year).values_list("patient_id", flat=True))
            new = [
                Enrolment(
                    patient=patient,
                    scheme=schemes["URRBMI" if patient.home_institution.is_rural else "UEBMI"],
                    year=year,
                    insurance_number=patient.insurance_number,
                )
                for patient in patients
                if patient.pk not in enrolled
            ]
            Enrolment.objects.bulk_create(new)
            created["enrolments"] += len(new)
    since = timezone.now() - datetime.timedelta(days=DEMO_CLAIM_DAYS)
    recent = Encounter.objects.filter(started_at__gte=since, claims__isnull=True, charge_items__isnull=False).distinct()
    for encounter in recent.order_by("started_at", "pk"):
        try:
            services.create_claim(encounter=encounter, actor=SYSTEM)
        except ApplicationError:
            continue
        created["claims"] += 1
    return created
