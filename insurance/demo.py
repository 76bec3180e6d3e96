"""Demo insurance data: published policies for last year and this year, office schemes, enrolments, claims.

Deterministic and idempotent: running it again changes nothing. The numbers are realistic
examples (ratios fall and deductibles rise with the institution level) and live in Policy rows.
Version 1 of each policy has level rules only; version 2 adds the benefit layers (per-admission
deductibles, one annual ceiling, outpatient pooling, chronic/special disease, critical illness,
medical assistance) and supersedes it, the way an office changes its numbers. Two inpatient stays
show the layers: a catastrophic case reaching critical-illness insurance, and a low-income patient
reaching medical assistance.
"""

import datetime
import io
from decimal import Decimal

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from consortium.errors import ApplicationError
from consortium.models import Consortium, Institution, InstitutionLevel, InsuranceOffice
from consortium.permissions import SYSTEM
from records.models import ChargeItem, Encounter, EncounterKind, Patient

from . import fund_services, services
from .fund_selectors import members_of
from .models import (
    AssistanceGroup,
    Claim,
    ClaimAppeal,
    ClaimStatus,
    ConsortiumFund,
    Enrolment,
    FundEntryKind,
    OfficeScheme,
    OutOfCountyFile,
    Policy,
    PolicyAssistanceRule,
    PolicyIllnessSegment,
    PolicyLevelRule,
    PolicyStatus,
    ReasonCode,
    Scheme,
    SettlementFile,
)
from .out_of_county import COLUMNS, land_out_of_county_file
from .reason_codes import ensure_platform_reason_codes
from .selectors import is_period_closed

#: The residents' yearly premium (last year, this year); employees' cover is paid through payroll.
DEMO_PREMIUMS = {-1: Decimal("380.00"), 0: Decimal("400.00")}

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

#: scheme -> the benefit layers of version 2: policy numbers, later-admission deductibles by level,
#: critical-illness segments (start above the threshold, ratio), medical assistance (group: ratio, cap).
DEMO_LAYERS = {
    "URRBMI": {
        "policy": {
            "deductible_per_admission": True,
            "annual_ceiling": "150000",
            "out_of_county_reduction": "0.1500",
            "outpatient_pooling": True,
            "outpatient_deductible": "50",
            "outpatient_primary_ratio": "0.5500",
            "outpatient_other_ratio": "0.4000",
            "outpatient_annual_cap": "500",
            "special_disease_ratio": "0.6500",
            "special_disease_annual_cap": "3000",
            "illness_threshold": "15000",
            "illness_annual_cap": "400000",
        },
        "later_admission": {
            InstitutionLevel.TOWNSHIP_HEALTH_CENTRE: "50",
            InstitutionLevel.COUNTY_HOSPITAL: "200",
            InstitutionLevel.CITY_HOSPITAL: "400",
        },
        "segments": [("0", "0.6000"), ("50000", "0.7000"), ("100000", "0.8000")],
        "assistance": {
            AssistanceGroup.EXTREME_POVERTY: ("1.0000", "60000"),
            AssistanceGroup.MINIMUM_LIVING: ("0.7000", "40000"),
            AssistanceGroup.LOW_INCOME: ("0.6000", "30000"),
            AssistanceGroup.RELAPSE_MONITORED: ("0.5000", "20000"),
        },
    },
    "UEBMI": {
        "policy": {
            "deductible_per_admission": True,
            "annual_ceiling": "300000",
            "out_of_county_reduction": "0.1000",
            "outpatient_pooling": True,
            "outpatient_deductible": "200",
            "outpatient_primary_ratio": "0.7000",
            "outpatient_other_ratio": "0.6000",
            "outpatient_annual_cap": "2000",
            "special_disease_ratio": "0.8500",
            "special_disease_annual_cap": "6000",
        },
        "later_admission": {InstitutionLevel.COUNTY_HOSPITAL: "300", InstitutionLevel.CITY_HOSPITAL: "500"},
        "segments": [],
        "assistance": {},
    },
}
#: The two stays that show the layers: (external id, institution code, days ago, assistance group, charges).
LAYER_CASES = [
    (
        "DEMO-LAYERS-CRITICAL",
        "YA-CH01",
        6,
        "",
        [
            ("A", "drug", "化疗药物", "96000.00"),
            ("B", "service", "手术及治疗", "64000.00"),
            ("C", "drug", "自费靶向药", "12000.00"),
        ],
    ),
    (
        "DEMO-LAYERS-ASSISTANCE",
        "YA-MF",
        4,
        AssistanceGroup.LOW_INCOME,
        [("A", "service", "住院治疗", "6200.00"), ("B", "drug", "乙类药品", "1800.00")],
    ),
]


#: The demo fund: the yearly budget of the URRBMI scheme for the consortium and its monthly prepayment.
DEMO_FUND_BUDGET = Decimal("2400000.00")


def _seed_fund(today: datetime.date) -> int:
    """The consortium's fund for this year: prepayments and provisional settlements of the two months
    before this one, and frozen performance scores (the page shows the dry-run clearing)."""
    consortium = Consortium.objects.order_by("pk").first()
    scheme = Scheme.objects.filter(code="URRBMI").first()
    office = InsuranceOffice.objects.filter(code="YC-YB").first() or InsuranceOffice.objects.order_by("pk").first()
    if consortium is None or scheme is None or office is None:
        return 0
    made = 0
    fund = ConsortiumFund.objects.filter(consortium=consortium, scheme=scheme, year=today.year).first()
    if fund is None:
        fund = fund_services.create_fund(
            consortium=consortium, scheme=scheme, year=today.year, office=office, budget=DEMO_FUND_BUDGET, actor=SYSTEM
        )
        made += 1
    months = [m for m in (today.month - 2, today.month - 1) if m >= 1] or [1]
    for month in months:
        period = f"{today.year}-{month:02d}"
        if not fund.entries.filter(kind=FundEntryKind.PREPAYMENT, period=period).exists():
            fund_services.post_prepayment(fund=fund, period=period, amount=DEMO_FUND_BUDGET / 12, actor=SYSTEM)
            made += 1
        if not fund.entries.filter(kind=FundEntryKind.PROVISIONAL, period=period).exists():
            fund_services.settle_month(fund=fund, period=period, actor=SYSTEM)
            made += 1
    if not fund.snapshots.exists():
        members = members_of(fund)
        scores = {m.pk: Decimal(max(60, 95 - 3 * index)) for index, m in enumerate(members)}
        fund_services.freeze_performance(fund=fund, scores=scores, actor=SYSTEM, note="demo")
        made += 1
    return made


def _layered_version(policy: Policy, layers: dict) -> bool:
    """Put version 2 with the benefit layers in force over a policy without them; False if already there."""
    if policy.deductible_per_admission:
        return False
    draft = services.new_policy_version(policy=policy, actor=SYSTEM)
    for name, value in layers["policy"].items():
        setattr(draft, name, Decimal(value) if isinstance(value, str) else value)
    draft.notes = "v2: benefit layers"
    draft.save()
    for rule in draft.level_rules.all():
        if rule.level in layers["later_admission"]:
            rule.later_admission_deductible = Decimal(layers["later_admission"][rule.level])
            rule.save()
    for start, ratio in layers["segments"]:
        PolicyIllnessSegment.objects.create(policy=draft, start=Decimal(start), ratio=Decimal(ratio))
    for group, (ratio, cap) in layers["assistance"].items():
        PolicyAssistanceRule.objects.create(policy=draft, group=group, ratio=Decimal(ratio), annual_cap=Decimal(cap))
    services.publish_policy(policy=draft, actor=SYSTEM)
    return True


def _layer_cases(today: datetime.date) -> int:
    """The catastrophic and the low-income stay, each once, with their claims."""
    made = 0
    home = {"YA-CH01": "YA-MF", "YA-MF": "YA-MF"}
    for index, (external_id, code, days_ago, group, charges) in enumerate(LAYER_CASES):
        institution = Institution.objects.filter(code=code).first()
        if institution is None:
            continue
        patients = list(
            Patient.objects.filter(
                home_institution__code=home[code], enrolments__year=today.year, enrolments__scheme__code="URRBMI"
            )
            .order_by("pk")
            .values_list("pk", flat=True)[:2]
        )
        if len(patients) <= index:
            continue
        patient = Patient.objects.get(pk=patients[index])
        if group:
            Enrolment.objects.filter(patient=patient, year=today.year).update(assistance_group=group)
        started = timezone.make_aware(datetime.datetime.combine(today - datetime.timedelta(days=days_ago), datetime.time(9, 30)))
        encounter, created = Encounter.objects.get_or_create(
            institution=institution,
            external_id=external_id,
            defaults={
                "patient": patient,
                "kind": EncounterKind.INPATIENT,
                "started_at": started,
                "ended_at": started + datetime.timedelta(days=3),
                "chief_complaint": "住院",
            },
        )
        if created:
            ChargeItem.objects.bulk_create(
                ChargeItem(
                    encounter=encounter,
                    item_code=f"L{index}{line:02d}",
                    name=name,
                    category=category,
                    catalogue_class=cls,
                    quantity=Decimal("1"),
                    unit_price=Decimal(amount),
                    amount=Decimal(amount),
                )
                for line, (cls, category, name, amount) in enumerate(charges)
            )
        if not encounter.claims.exists():
            try:
                services.create_claim(encounter=encounter, actor=SYSTEM)
            except ApplicationError:
                continue
            made += 1
    return made


#: Hospitals outside the county where the demo's residents were treated (name, region, level).
DEMO_OUTSIDE = [
    ("华中科技大学同济医学院附属协和医院", "420102", InstitutionLevel.CITY_HOSPITAL),
    ("湖北省人民医院", "420106", InstitutionLevel.CITY_HOSPITAL),
    ("宜都市第一人民医院", "420581", InstitutionLevel.COUNTY_HOSPITAL),
]
DEMO_OUTSIDE_FILE = "demo-out-of-county.csv"


def _seed_out_of_county(today: datetime.date) -> int:
    """Visits outside the county for one in seven rural residents, landed the way an office uploads them."""
    office = InsuranceOffice.objects.filter(code="YC-YB").first() or InsuranceOffice.objects.order_by("pk").first()
    if office is None or OutOfCountyFile.objects.filter(office=office, file_name=DEMO_OUTSIDE_FILE).exists():
        return 0
    residents = list(
        Enrolment.objects.filter(year=today.year, scheme__code="URRBMI")
        .order_by("patient_id")
        .values_list("insurance_number", flat=True)
    )[::7]
    lines = [",".join(COLUMNS)]
    for index, number in enumerate(residents):
        name, region, level = DEMO_OUTSIDE[index % len(DEMO_OUTSIDE)]
        month = index % max(1, today.month - 1) + 1
        inpatient = index % 9 == 0
        total = Decimal(6000 + 173 * index) if inpatient else Decimal(120 + 23 * index)
        fund_paid = (total * Decimal("0.45") if inpatient else total * Decimal("0.30")).quantize(Decimal("0.01"))
        lines.append(
            f"YB{today.year}{index:06d},{number},URRBMI,{name},{region},{level},"
            f"{'inpatient' if inpatient else 'outpatient'},{today.year}-{month:02d}-{index % 27 + 1:02d},{total:.2f},{fund_paid}"
        )
    if len(lines) == 1:
        return 0
    landed = land_out_of_county_file(office=office, upload="\n".join(lines).encode(), file_name=DEMO_OUTSIDE_FILE, actor=SYSTEM)
    return landed.new_visits


#: Offices restricted to some schemes (the county office pays the rural residents' scheme only).
OFFICE_SCHEMES = {"YA-YB": {"URRBMI"}}


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
        for year in (today.year - 1, today.year):
            for code, layers in DEMO_LAYERS.items():
                policy = Policy.objects.filter(scheme=schemes[code], year=year, status=PolicyStatus.IN_FORCE).first()
                if policy is not None and _layered_version(policy, layers):
                    created["policies"] += 1
        for office in InsuranceOffice.objects.all():
            for scheme in schemes.values():
                if scheme.code not in OFFICE_SCHEMES.get(office.code, DEMO_TERMS):
                    continue
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
                    household_number=f"{patient.home_institution.region_code}-{patient.pk % 997:04d}",
                    premium_paid=DEMO_PREMIUMS[year - today.year] if patient.home_institution.is_rural else Decimal("0.00"),
                    premium_paid_on=datetime.date(year - 1, 12, 15),
                )
                for patient in patients
                if patient.pk not in enrolled
            ]
            Enrolment.objects.bulk_create(new)
            created["enrolments"] += len(new)
    created["claims"] += _layer_cases(today)
    since = timezone.now() - datetime.timedelta(days=DEMO_CLAIM_DAYS)
    recent = Encounter.objects.filter(started_at__gte=since, claims__isnull=True, charge_items__isnull=False).distinct()
    for encounter in recent.order_by("started_at", "pk"):
        try:
            services.create_claim(encounter=encounter, actor=SYSTEM)
        except ApplicationError:
            continue
        created["claims"] += 1
    created["visits outside the county"] = _seed_out_of_county(today)
    created["fund entries"] = _seed_fund(today)
    return created


DEMO_OFFICE_REASON = ("YC-01", "超出本市限定支付范围", "Outside the city's restricted payment scope")
DEMO_PAYMENT_FILE = "remittance-demo-payment-detail.csv"


def seed_payer_detail_demo(today: datetime.date | None = None) -> dict[str, int]:
    """Payer detail in the demo: the platform's reason codes and one office code of its own; two claims
    of this month at the Mingfeng township centre submitted and adjudicated (one line by line,
    one rejected and appealed by the centre, waiting for the office's new decision); and a remittance
    file with payment dates, trace numbers and a reversal naming its payment. Idempotent."""
    today = today or timezone.localdate()
    created = {"reason codes": 0, "claims adjudicated by line": 0, "appeals": 0, "remittance files with payment detail": 0}
    created["reason codes"] = ensure_platform_reason_codes()
    office = InsuranceOffice.objects.filter(code="YC-YB").first()
    institution = Institution.objects.filter(code="YA-MF").first()
    if office is None or institution is None:
        return created
    code, zh, en = DEMO_OFFICE_REASON
    created["reason codes"] += ReasonCode.objects.get_or_create(
        office=office, code=code, defaults={"text_zh": zh, "text_en": en}
    )[1]
    if ClaimAppeal.objects.filter(claim__institution=institution).exists():
        return created
    period = today.strftime("%Y-%m")
    drafts = list(
        Claim.objects.filter(institution=institution, period=period, status=ClaimStatus.DRAFT, reimbursed__gt=0)
        .annotate(line_count=Count("lines"))
        .filter(line_count__gte=2)
        .order_by("pk")[:2]
    )
    if len(drafts) < 2 or is_period_closed(institution.pk, period):
        return created
    with transaction.atomic():
        services.submit_claims(institution=institution, period=period, actor=SYSTEM, only=[c.pk for c in drafts])
        by_line, rejected = drafts
        last = by_line.lines.order_by("-sequence").first()
        cut = (last.payable / 2).quantize(Decimal("0.01"))
        services.adjudicate_claims(
            claims_queryset=Claim.objects.filter(pk__in=[c.pk for c in drafts]),
            decisions=[
                services.Adjudication(by_line.number, None, None, [], (services.LineDecision(last.sequence, cut, "R02"),)),
                services.Adjudication(rejected.number, ClaimStatus.REJECTED, None, ["R07"]),
            ],
            actor=SYSTEM,
        )
        created["claims adjudicated by line"] = 1
        services.appeal_adjudication(claim=rejected, actor=SYSTEM, reason="已补开转诊单，申请复核。")
        created["appeals"] = 1
        if not SettlementFile.objects.filter(office=office, file_name=DEMO_PAYMENT_FILE).exists():
            by_line.refresh_from_db()
            paid = by_line.approved_amount
            day = today.replace(day=min(today.day, 28)).isoformat()
            text = (
                "claim_number,institution_code,paid_amount,payment_status,reason_code,payment_reference,"
                "payment_date,reverses_reference\n"
                f"{by_line.number},{institution.code},{paid + 10:.2f},paid,,DEMO-TR-0001,{day},\n"
                f"{by_line.number},{institution.code},-10.00,paid,,DEMO-TR-0002,{day},DEMO-TR-0001\n"
            )
            services.store_settlement_file(
                office=office,
                period=period,
                upload=io.BytesIO(text.encode()),
                file_name=DEMO_PAYMENT_FILE,
                encoding="utf-8",
                actor=SYSTEM,
                control_total=paid,
                control_count=2,
            )
            created["remittance files with payment detail"] = 1
    return created


#: The insurer's workflow in the demo: the Hualinsi township centre's last month reconciled and closed,
#: this month's claims of three centres submitted and waiting for the offices (one centre in Zigui,
#: outside the Yuan'an county office's region, so only the city office sees its claims).
DEMO_WORKFLOW_RECONCILED = "YA-HLS"
DEMO_WORKFLOW_SUBMITTED = ("YA-HLS", "YA-JX", "ZG-GZ")
DEMO_WORKFLOW_FILE = "settlement-demo-reconciled-month.csv"


def seed_insurer_workflow_demo(today: datetime.date | None = None) -> dict[str, int]:
    """Claims ready to adjudicate, one reconciled and closed period and one open. Idempotent."""
    today = today or timezone.localdate()
    created = {"claims submitted": 0, "periods reconciled and closed": 0}
    office = InsuranceOffice.objects.filter(code="YC-YB").first()
    if office is None:
        return created
    this_month = today.strftime("%Y-%m")
    last_month = (today.replace(day=1) - datetime.timedelta(days=1)).strftime("%Y-%m")
    reconciled = Institution.objects.filter(code=DEMO_WORKFLOW_RECONCILED).first()
    if reconciled is not None and not is_period_closed(reconciled.pk, last_month, office=office):
        with transaction.atomic():
            services.submit_claims(institution=reconciled, period=last_month, actor=SYSTEM)
            waiting = Claim.objects.filter(institution=reconciled, period=last_month, status=ClaimStatus.SUBMITTED)
            claims = list(waiting.order_by("pk"))
            if claims:
                services.adjudicate_claims(
                    claims_queryset=waiting,
                    decisions=[services.Adjudication(c.number, ClaimStatus.APPROVED, None, []) for c in claims],
                    actor=SYSTEM,
                )
                approved = Claim.objects.filter(pk__in=[c.pk for c in claims]).order_by("pk")
                day = today.replace(day=1) - datetime.timedelta(days=1)
                lines = ["claim_number,institution_code,paid_amount,payment_status,reason_code,payment_reference,payment_date"]
                lines += [
                    f"{c.number},{reconciled.code},{c.approved_amount:.2f},paid,,DEMO-HLS-{n:04d},{day.isoformat()}"
                    for n, c in enumerate(approved, start=1)
                ]
                total = sum((c.approved_amount for c in approved), Decimal("0.00"))
                stored = services.store_settlement_file(
                    office=office,
                    period=last_month,
                    upload=io.BytesIO(("\n".join(lines) + "\n").encode()),
                    file_name=DEMO_WORKFLOW_FILE,
                    encoding="utf-8",
                    actor=SYSTEM,
                    control_total=total,
                    control_count=len(lines) - 1,
                )
                services.run_reconciliation(settlement_file=stored, institution=reconciled, actor=SYSTEM)
                services.close_period(institution=reconciled, period=last_month, actor=SYSTEM, office=office)
                created["periods reconciled and closed"] = 1
    for code in DEMO_WORKFLOW_SUBMITTED:
        institution = Institution.objects.filter(code=code).first()
        if institution is None or is_period_closed(institution.pk, this_month, office=office):
            continue
        before = Claim.objects.filter(institution=institution, period=this_month, status=ClaimStatus.SUBMITTED).count()
        services.submit_claims(institution=institution, period=this_month, actor=SYSTEM)
        after = Claim.objects.filter(institution=institution, period=this_month, status=ClaimStatus.SUBMITTED).count()
        created["claims submitted"] += after - before
    return created
