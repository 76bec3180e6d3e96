"""Loads the demo consortium: deterministic (one seeded random stream) and idempotent
(everything is keyed by a natural key, so a second run finds it all and writes nothing)."""

import datetime
import random
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.utils import timezone
from pypinyin import lazy_pinyin

from chronic.demo import seed_chronic
from consortium.models import (
    ApiClient,
    ApiClientKind,
    Consortium,
    Department,
    Institution,
    InsuranceOffice,
    MachineAccessKind,
    MachineAccessRequest,
    Membership,
    MembershipRole,
    Secondment,
    Staff,
    StaffRole,
    hash_api_token,
)
from consortium.permissions import SYSTEM
from consortium.secondment_services import record_secondment
from dashboard.demo import seed_dashboard
from diagnostics.demo import seed_diagnostics_demo
from insurance.demo import seed_insurance_demo, seed_insurer_workflow_demo, seed_payer_detail_demo
from records import resident_id
from records.catalogues import load_shipped as load_shipped_catalogues
from records.demo import seed_break_glass_demo
from records.models import ChargeItem, Diagnosis, Encounter, EncounterKind, Patient, identifier_hash
from records.notices import note_visits_elsewhere
from referrals.demo import seed_slot_schedules
from referrals.models import Direction, Referral, ReferralDueTimePolicy, ReferralEvent, ReferralStatus, Urgency
from sync.demo import seed_sync_demo

from . import demo_data as data

SEED = 20261126
PATIENTS_PER_LEVEL = {"city_hospital": 30, "county_hospital": 12, "township_health_centre": 20, "village_clinic": 10}
CONSORTIUM_ADMIN_MODELS = ["institution", "consortium", "membership", "department", "staff", "insuranceoffice", "apiclient"]


@dataclass
class SeedReport:
    created: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, count: int = 1) -> None:
        self.created[name] = self.created.get(name, 0) + count

    @property
    def total(self) -> int:
        return sum(self.created.values())


def seed_demo_consortium(today: datetime.date | None = None) -> SeedReport:
    today = today or timezone.localdate()
    report = SeedReport()
    rng = random.Random(SEED)
    with transaction.atomic():
        institutions = _seed_institutions(report)
        consortium = _seed_consortium(institutions, report)
        offices = _seed_insurance_offices(report)
        _seed_logins(institutions, consortium, offices, report)
        _seed_api_clients(institutions, offices, report)
        _seed_machine_access_request(institutions, report)
        _seed_secondments(institutions, today, report)
        for loaded in load_shipped_catalogues():
            report.add("catalogue entries", loaded.created)
        patients = _seed_patients(rng, institutions, report)
        _seed_encounters(rng, patients, institutions, today, report)
        for name, count in seed_slot_schedules().items():
            report.add(name, count)
        _seed_referrals(rng, patients, institutions, today, report)
        _seed_discharges(patients, institutions, today, report)
        _seed_chronic_referral(seed_chronic(today, report), institutions, report)
        for name, count in seed_diagnostics_demo(today).items():
            report.add(name, count)
        for name, count in seed_insurance_demo(today).items():
            report.add(name, count)
        for name, count in seed_payer_detail_demo(today).items():
            report.add(name, count)
        for name, count in seed_insurer_workflow_demo(today).items():
            report.add(name, count)
        for name, count in seed_sync_demo().items():
            report.add(name, count)
        for name, count in seed_break_glass_demo().items():
            report.add(name, count)
        _refresh_planner_statistics()
        seed_dashboard(today, report)
    return report


def _seed_chronic_referral(enrolment, institutions, report: SeedReport) -> None:
    """The chronic-care trigger the village doctor acted on: an upward referral from the follow-up visit."""
    if enrolment is None:
        return
    from referrals import services

    follow_up = enrolment._follow_up
    doctor = Staff.objects.select_related("user").get(user__username="fengyang_doctor").user
    department = Department.objects.get(institution=institutions["YC-CH01"], code="CARD")
    values = ", ".join(f"{key} {value}" for key, value in follow_up.measurements.items())
    services.create_referral(
        actor=doctor,
        patient=enrolment.patient,
        to_department=department,
        urgency=Urgency.URGENT,
        reason=f"高血压连续两次随访控制不满意，最近一次 {follow_up.done_on:%Y-%m-%d}：{values}。",
        source_encounter=follow_up.encounter,
    )
    report.add("referrals")


def _refresh_planner_statistics() -> None:
    """PostgreSQL plans the roll-ups' correlated subqueries as nested scans over tables it believes
    empty until it has statistics; a freshly loaded demo has none yet."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def _seed_institutions(report: SeedReport) -> dict[str, Institution]:
    institutions = {}
    for code, name, level, grade, region, rural, parent, address in data.INSTITUTIONS:
        institution, created = Institution.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "level": level,
                "grade": grade,
                "region_code": region,
                "is_rural": rural,
                "parent": institutions.get(parent),
                "address": address,
            },
        )
        report.add("institutions", created)
        institutions[code] = institution
        departments = {
            "city_hospital": data.CITY_DEPARTMENTS,
            "county_hospital": data.COUNTY_DEPARTMENTS,
            "township_health_centre": data.TOWNSHIP_DEPARTMENTS,
            "village_clinic": data.VILLAGE_DEPARTMENTS,
        }[level]
        for dept_code, dept_name in departments:
            _department, created = Department.objects.get_or_create(
                institution=institution,
                code=dept_code,
                defaults={"name": dept_name, "accepts_referrals": level in ("city_hospital", "county_hospital")},
            )
            report.add("departments", created)
    return institutions


def _seed_consortium(institutions: dict[str, Institution], report: SeedReport) -> Consortium:
    consortium, created = Consortium.objects.get_or_create(
        code=data.CONSORTIUM["code"],
        defaults={
            "name": data.CONSORTIUM["name"],
            "region_code": data.CONSORTIUM["region_code"],
            "description": "以宜昌市中心医院为牵头单位，远安、秭归两县人民医院及其乡镇卫生院、村卫生室为成员的城乡医联体。",
        },
    )
    report.add("consortia", created)
    for number, (code, institution) in enumerate(institutions.items(), start=1):
        _membership, created = Membership.objects.get_or_create(
            consortium=consortium,
            institution=institution,
            defaults={
                "role": MembershipRole.LEAD if code == "YC-CH01" else MembershipRole.MEMBER,
                "agreement_start": datetime.date(2025, 1, 1),
                "agreement_end": datetime.date(2027, 12, 31),
                "agreement_reference": f"YLT-2025-{number:03d}",
            },
        )
        report.add("memberships", created)
    return consortium


def _seed_secondments(institutions: dict[str, Institution], today: datetime.date, report: SeedReport) -> None:
    """Seconded physicians, recorded through the audited service (once: skipped when the name is there)."""
    for name, specialty, source, target, months_ago, months in data.SECONDMENTS:
        if Secondment.objects.filter(physician_name=name, from_institution=institutions[source]).exists():
            continue
        starts_on = _add_months(today.replace(day=1), -months_ago)
        ends_on = _add_months(starts_on, months) - datetime.timedelta(days=1) if months else None
        record_secondment(
            actor=SYSTEM,
            physician_name=name,
            specialty=specialty,
            from_institution=institutions[source],
            to_institution=institutions[target],
            starts_on=starts_on,
            ends_on=ends_on,
        )
        report.add("secondments")


def _add_months(first: datetime.date, months: int) -> datetime.date:
    years, month = divmod(first.month - 1 + months, 12)
    return first.replace(year=first.year + years, month=month + 1)


def _seed_insurance_offices(report: SeedReport) -> dict[str, InsuranceOffice]:
    offices = {}
    for office_data in data.INSURANCE_OFFICES:
        office, created = InsuranceOffice.objects.get_or_create(code=office_data["code"], defaults=office_data)
        report.add("insurance offices", created)
        offices[office.code] = office
    return offices


def _seed_logins(institutions, consortium, offices, report: SeedReport) -> None:
    User = get_user_model()
    for username, display_name, role, institution_code, department_code, extra in data.DEMO_LOGINS:
        user, created = User.objects.get_or_create(username=username, defaults={"is_active": True})
        if created:
            user.set_password(data.DEMO_PASSWORD)
            user.save(update_fields=["password"])
            report.add("users")
        institution = institutions.get(institution_code)
        department = Department.objects.filter(institution=institution, code=department_code).first() if department_code else None
        _staff, created = Staff.objects.get_or_create(
            user=user,
            defaults={
                "role": role,
                "display_name": display_name,
                "institution": institution,
                "department": department,
                "insurance_office": offices.get(extra.get("insurance_office")),
                "consortium": consortium if extra.get("consortium") else None,
            },
        )
        report.add("staff", created)
        if role == StaffRole.CONSORTIUM_ADMINISTRATOR and not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
            user.user_permissions.add(
                *Permission.objects.filter(content_type__app_label="consortium", content_type__model__in=CONSORTIUM_ADMIN_MODELS)
            )
    admin, created = User.objects.get_or_create(username="admin", defaults={"is_staff": True, "is_superuser": True})
    if created:
        admin.set_password(data.DEMO_PASSWORD)
        admin.save(update_fields=["password"])
        report.add("users")


def _seed_api_clients(institutions, offices, report: SeedReport) -> None:
    for name, kind, token, owner in (
        (
            "宜昌市医保经办中心对账接口",
            ApiClientKind.INSURANCE_OFFICE,
            data.DEMO_INSURANCE_TOKEN,
            {"insurance_office": offices["YC-YB"]},
        ),
        (
            "远安县医保经办中心对账接口",
            ApiClientKind.INSURANCE_OFFICE,
            data.DEMO_COUNTY_INSURANCE_TOKEN,
            {"insurance_office": offices["YA-YB"]},
        ),
        ("鸣凤镇卫生院HIS", ApiClientKind.MEMBER_SYSTEM, data.DEMO_MEMBER_SYSTEM_TOKEN, {"institution": institutions["YA-MF"]}),
    ):
        _client, created = ApiClient.objects.get_or_create(
            token_hash=hash_api_token(token), defaults={"name": name, "kind": kind, "token_prefix": token[:8], **owner}
        )
        report.add("API clients", created)


def _seed_machine_access_request(institutions, report: SeedReport) -> None:
    """The consortium administrator's request for a token of the township centre's public-health
    system, waiting for a second administrator (``consortium_admin2``) to approve it."""
    requester = get_user_model().objects.get(username="consortium_admin")
    _request, created = MachineAccessRequest.objects.get_or_create(
        kind=MachineAccessKind.TOKEN_CREATE,
        institution=institutions["YA-MF"],
        requested_by=requester,
        defaults={"payload": {"name": "鸣凤镇卫生院公卫随访系统"}, "reason": "卫生院公卫随访系统上线，需要上传随访批次"},
    )
    report.add("machine access requests", created)


def _person(rng: random.Random) -> tuple[str, str]:
    sex = rng.choice("MF")
    given_chars = data.GIVEN_MALE if sex == "M" else data.GIVEN_FEMALE
    given = "".join(rng.choice(given_chars) for _ in range(rng.choice((1, 2, 2))))
    return rng.choice(data.SURNAMES) + given, sex


def _seed_patients(rng: random.Random, institutions, report: SeedReport) -> list[Patient]:
    planned: list[Patient] = []
    used_ids: set[str] = set()
    for code, institution in institutions.items():
        region = institution.region_code
        for _ in range(PATIENTS_PER_LEVEL[institution.level]):
            name, sex = _person(rng)
            while True:
                birth = datetime.date(1940, 1, 1) + datetime.timedelta(days=rng.randrange(0, 80 * 365))
                number = resident_id.build(region, birth, rng.randrange(0, 100), sex)
                if number not in used_ids:
                    used_ids.add(number)
                    break
            village = rng.choice(data.VILLAGES[code])
            phone = f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"
            planned.append(
                Patient(
                    home_institution=institution,
                    name=name,
                    name_pinyin=" ".join(lazy_pinyin(name)),
                    sex=sex,
                    birth_date=birth,
                    resident_id=number,
                    resident_id_hash=identifier_hash("resident_id", number),
                    insurance_number=f"H{number[:6]}{len(planned) + 1:08d}",
                    phone=phone,
                    phone_hash=identifier_hash("phone", phone),
                    address=_address(rng, institution, village),
                    village=village,
                    consents_to_sharing=rng.random() < 0.75,
                )
            )
    existing = set(
        Patient.objects.filter(resident_id_hash__in=[p.resident_id_hash for p in planned]).values_list(
            "resident_id_hash", flat=True
        )
    )
    missing = [p for p in planned if p.resident_id_hash not in existing]
    Patient.objects.bulk_create(missing, batch_size=500)
    report.add("patients", len(missing))
    by_hash = {p.resident_id_hash: p for p in Patient.objects.filter(resident_id_hash__in=[p.resident_id_hash for p in planned])}
    return [by_hash[p.resident_id_hash] for p in planned]


def _address(rng: random.Random, institution: Institution, village: str) -> str:
    if institution.is_hospital:
        return f"宜昌市{village}{rng.randrange(1, 200)}号"
    town = institution.address.removesuffix(village)
    return f"湖北省宜昌市{town}{village}{rng.randrange(1, 12)}组{rng.randrange(1, 60)}号"


def _visit_time(rng: random.Random, day: datetime.date) -> datetime.datetime:
    local = datetime.datetime.combine(day, datetime.time(rng.randrange(8, 17), rng.choice((0, 10, 20, 30, 40, 50))))
    return timezone.make_aware(local)


def _seed_encounters(rng: random.Random, patients, institutions, today: datetime.date, report: SeedReport) -> None:
    attending = {staff.institution_id: staff for staff in Staff.objects.filter(role=StaffRole.CLINIC_CLINICIAN)}
    plans = []
    for patient in patients:
        for _ in range(rng.randrange(1, 5)):
            days_ago = 0 if rng.random() < 0.04 else rng.randrange(1, 120)
            plans.append((patient, patient.home_institution, days_ago))
    # Today's clinic for the demo township centre, so its home page has a day's work on it.
    for patient in [p for p in patients if p.home_institution.code == "YA-MF"][:8]:
        plans.append((patient, patient.home_institution, 0))
    upward = [p for p in patients if p.home_institution.is_primary]
    for patient in rng.sample(upward, 24):
        hospital = institutions["YC-CH01"] if rng.random() < 0.5 else institutions[f"{patient.home_institution.code[:2]}-CH01"]
        plans.append((patient, hospital, rng.randrange(0, 60)))

    external_ids = [f"DEMO-E{number:05d}" for number in range(1, len(plans) + 1)]
    existing = set(Encounter.objects.filter(external_id__in=external_ids).values_list("external_id", flat=True))
    encounters, diagnoses, charges = [], [], []
    for external_id, (patient, institution, days_ago) in zip(external_ids, plans, strict=True):
        code, description, complaint = rng.choice(data.DIAGNOSES)
        items = rng.sample(data.CHARGE_CATALOGUE, rng.randrange(2, 6))
        quantities = [Decimal(rng.randrange(1, 4)) for _ in items]
        started = _visit_time(rng, today - datetime.timedelta(days=days_ago))
        kind = EncounterKind.INPATIENT if institution.is_hospital and rng.random() < 0.3 else EncounterKind.OUTPATIENT
        if external_id in existing:
            continue
        encounter = Encounter(
            patient=patient,
            institution=institution,
            kind=kind,
            started_at=started,
            ended_at=started
            + (
                datetime.timedelta(days=rng.randrange(3, 10))
                if kind == EncounterKind.INPATIENT
                else datetime.timedelta(minutes=20)
            ),
            chief_complaint=complaint,
            attending=attending.get(institution.pk),
            external_id=external_id,
        )
        encounters.append(encounter)
        diagnoses.append(Diagnosis(encounter=encounter, code=code, description=description, is_primary=True))
        for (item_code, name, category, catalogue_class, price), quantity in zip(items, quantities, strict=True):
            charges.append(
                ChargeItem(
                    encounter=encounter,
                    item_code=item_code,
                    name=name,
                    category=category,
                    catalogue_class=catalogue_class,
                    quantity=quantity,
                    unit_price=price,
                    amount=(quantity * price).quantize(Decimal("0.01")),
                )
            )
    Encounter.objects.bulk_create(encounters, batch_size=500)
    Diagnosis.objects.bulk_create(diagnoses, batch_size=500)
    ChargeItem.objects.bulk_create(charges, batch_size=500)
    # The hospitals' visits of primary-care patients reach their home clinics as notices.
    note_visits_elsewhere((encounter.patient_id, encounter.institution_id) for encounter in encounters)
    report.add("encounters", len(encounters))


REFERRAL_PLAN = [
    # (status, urgency, department code, days ago, decision reason)
    (ReferralStatus.SUBMITTED, Urgency.URGENT, "CARD", 0, ""),
    (ReferralStatus.SUBMITTED, Urgency.ROUTINE, "ENDO", 1, ""),
    (ReferralStatus.SUBMITTED, Urgency.EMERGENCY, "NEUR", 0, ""),
    (ReferralStatus.UNDER_REVIEW, Urgency.ROUTINE, "ORTH", 2, ""),
    (ReferralStatus.UNDER_REVIEW, Urgency.URGENT, "RESP", 1, ""),
    (ReferralStatus.ACCEPTED, Urgency.ROUTINE, "CARD", 5, ""),
    (ReferralStatus.ACCEPTED, Urgency.URGENT, "GSUR", 3, ""),
    (ReferralStatus.REJECTED, Urgency.ROUTINE, "ORTH", 9, "病情稳定，建议在乡镇卫生院继续康复治疗。"),
    (ReferralStatus.ARRIVED, Urgency.URGENT, "RESP", 6, ""),
    (ReferralStatus.COMPLETED, Urgency.ROUTINE, "ENDO", 30, ""),
    (ReferralStatus.COMPLETED, Urgency.URGENT, "CARD", 45, ""),
    (ReferralStatus.SUBMITTED, Urgency.ROUTINE, "REHA", 3, ""),
]
PATH_TO = {
    ReferralStatus.SUBMITTED: [ReferralStatus.SUBMITTED],
    ReferralStatus.UNDER_REVIEW: [ReferralStatus.SUBMITTED, ReferralStatus.UNDER_REVIEW],
    ReferralStatus.ACCEPTED: [ReferralStatus.SUBMITTED, ReferralStatus.UNDER_REVIEW, ReferralStatus.ACCEPTED],
    ReferralStatus.REJECTED: [ReferralStatus.SUBMITTED, ReferralStatus.UNDER_REVIEW, ReferralStatus.REJECTED],
    ReferralStatus.ARRIVED: [ReferralStatus.SUBMITTED, ReferralStatus.ACCEPTED, ReferralStatus.ARRIVED],
    ReferralStatus.IN_TREATMENT: [
        ReferralStatus.SUBMITTED,
        ReferralStatus.ACCEPTED,
        ReferralStatus.ARRIVED,
        ReferralStatus.IN_TREATMENT,
    ],
    ReferralStatus.COMPLETED: [
        ReferralStatus.SUBMITTED,
        ReferralStatus.ACCEPTED,
        ReferralStatus.ARRIVED,
        ReferralStatus.IN_TREATMENT,
        ReferralStatus.COMPLETED,
    ],
}


def _seed_referrals(rng: random.Random, patients, institutions, today, report: SeedReport) -> None:
    city = institutions["YC-CH01"]
    candidates = [p for p in patients if p.home_institution.is_primary and p.consents_to_sharing]
    chosen = rng.sample(candidates, len(REFERRAL_PLAN))
    if Referral.objects.filter(patient__in=chosen, to_institution=city).exists():
        return
    clinician = Staff.objects.filter(role=StaffRole.CLINIC_CLINICIAN).select_related("user").first()
    coordinator = Staff.objects.filter(role=StaffRole.REFERRAL_COORDINATOR, institution=city).select_related("user").first()
    departments = {d.code: d for d in city.departments.all()}
    for patient, (status, urgency, department, days_ago, decision_reason) in zip(chosen, REFERRAL_PLAN, strict=True):
        submitted = _visit_time(rng, today - datetime.timedelta(days=days_ago))
        _upward_referral(
            patient, city, departments[department], status, urgency, submitted, decision_reason, clinician, coordinator
        )
        report.add("referrals")


def _upward_referral(patient, city, department, status, urgency, submitted, decision_reason, clinician, coordinator) -> Referral:
    """An upward referral already at ``status``, with the timeline events of the way there."""
    source = patient.encounters.order_by("-started_at").first()
    diagnosis = source.diagnoses.first() if source else None
    referral = Referral.objects.create(
        patient=patient,
        direction=Direction.UP,
        from_institution=patient.home_institution,
        to_institution=city,
        to_department=department,
        source_encounter=source,
        urgency=urgency,
        reason=f"{diagnosis.description if diagnosis else '病情'}，基层治疗效果不佳，申请上级医院专科诊治。",
        clinical_summary={"diagnoses": [{"code": diagnosis.code, "description": diagnosis.description}] if diagnosis else []},
        status=status,
        due_at=submitted + ReferralDueTimePolicy().due_delta(urgency),
        appointment_at=(submitted + datetime.timedelta(days=2)).replace(hour=9, minute=0)
        if status not in (ReferralStatus.SUBMITTED, ReferralStatus.UNDER_REVIEW, ReferralStatus.REJECTED)
        else None,
        decision_reason=decision_reason,
        created_by=clinician.user if clinician else None,
        created_at=submitted - datetime.timedelta(minutes=30),
        submitted_at=submitted,
        decided_at=submitted + datetime.timedelta(hours=3)
        if status not in (ReferralStatus.SUBMITTED, ReferralStatus.UNDER_REVIEW)
        else None,
    )
    previous = ReferralStatus.DRAFT
    for step, to_status in enumerate(PATH_TO[status]):
        actor = clinician if to_status == ReferralStatus.SUBMITTED else coordinator
        ReferralEvent.objects.create(
            referral=referral,
            occurred_at=submitted + datetime.timedelta(hours=step * 3),
            actor=actor.user if actor else None,
            from_status=previous,
            to_status=to_status,
            note=decision_reason if to_status == ReferralStatus.REJECTED else "",
        )
        previous = to_status
    return referral


#: Patients of the demo clinicians' clinics treated at the city hospital and discharged back:
#: (clinic, department, weeks ago, follow-up plan as (kind, days after discharge), satisfaction).
DISCHARGE_PLAN = [
    ("YA-MF", "CARD", 20, [("revisit", 14), ("medication_review", 30)], 5),
    ("YA-MF-FY", "ORTH", 17, [("rehabilitation", 7), ("rehabilitation", 21), ("revisit", 42)], 4),
    ("ZG-GZ", "ENDO", 14, [("medication_review", 14), ("revisit", 28)], 4),
    ("YA-MF", "NEUR", 11, [("rehabilitation", 10), ("revisit", 30)], 3),
    ("ZG-GZ", "RESP", 8, [("revisit", 14), ("medication_review", 45)], 5),
    ("YA-MF-FY", "CARD", 5, [("medication_review", 7), ("revisit", 21)], 4),
    ("YA-MF", "ENDO", 3, [("revisit", 14), ("medication_review", 60)], None),
    ("ZG-GZ", "REHA", 1, [("rehabilitation", 3), ("rehabilitation", 10), ("revisit", 30)], None),
]
#: Per department of the city hospital: the discharge diagnosis (ICD-10), medicines (drug, dose,
#: frequency, days) and instructions of the demo discharges.
DISCHARGE_DETAILS = {
    "CARD": (
        "I10",
        [("苯磺酸氨氯地平片", "5mg", "每日一次", 30), ("阿托伐他汀钙片", "20mg", "每晚一次", 30)],
        "低盐低脂饮食，每日监测血压并记录，两周后基层复诊。",
    ),
    "ORTH": (
        "S72.0",
        [("塞来昔布胶囊", "200mg", "每日一次", 14), ("碳酸钙D3片", "600mg", "每日一次", 60)],
        "助行器辅助下床活动，按康复计划功能锻炼，避免患肢负重。",
    ),
    "ENDO": (
        "E11.9",
        [("盐酸二甲双胍片", "0.5g", "每日三次", 30), ("格列美脲片", "2mg", "每日一次", 30)],
        "糖尿病饮食，监测空腹及餐后血糖，警惕低血糖反应。",
    ),
    "NEUR": (
        "I63.9",
        [("阿司匹林肠溶片", "100mg", "每日一次", 30), ("阿托伐他汀钙片", "20mg", "每晚一次", 30)],
        "坚持肢体康复训练，控制血压，出现言语不清或肢体无力加重立即就诊。",
    ),
    "RESP": (
        "J44.1",
        [("噻托溴铵粉吸入剂", "18μg", "每日一次", 30), ("盐酸氨溴索片", "30mg", "每日三次", 7)],
        "戒烟，家庭氧疗每日15小时以上，注意保暖预防感冒。",
    ),
    "REHA": (
        "I69.3",
        [("阿司匹林肠溶片", "100mg", "每日一次", 30)],
        "按康复计划每日训练，家属协助日常生活活动，定期评估肌力。",
    ),
}
SATISFACTION_COMMENTS = {5: "医生耐心细致，转诊很顺畅。", 4: "整体满意，预约等待稍长。", 3: "治疗效果可以，往返路程较远。"}


def _seed_discharges(patients, institutions, today: datetime.date, report: SeedReport) -> None:
    """Upward referrals of the demo clinics that ended with a discharge back, follow-ups and ratings,
    taken through the referral services so that their timelines, tasks and notifications are real."""
    from referrals import services

    city = institutions["YC-CH01"]
    if Referral.objects.filter(direction=Direction.DOWN, from_institution=city).exists():
        return
    rng = random.Random(SEED + 1)
    coordinator = Staff.objects.filter(role=StaffRole.REFERRAL_COORDINATOR, institution=city).select_related("user").first()
    departments = {d.code: d for d in city.departments.all()}
    referred = set(Referral.objects.values_list("patient_id", flat=True))
    for clinic_code, department, weeks_ago, plan, score in DISCHARGE_PLAN:
        clinic = institutions[clinic_code]
        clinician = Staff.objects.filter(role=StaffRole.CLINIC_CLINICIAN, institution=clinic).select_related("user").first()
        patient = rng.choice(
            [p for p in patients if p.home_institution_id == clinic.pk and p.consents_to_sharing and p.pk not in referred]
        )
        referred.add(patient.pk)
        submitted = _visit_time(rng, today - datetime.timedelta(weeks=weeks_ago))
        in_treatment, urgent = ReferralStatus.IN_TREATMENT, Urgency.URGENT
        upward = _upward_referral(
            patient, city, departments[department], in_treatment, urgent, submitted, "", clinician, coordinator
        )
        discharged_at = submitted + datetime.timedelta(days=6, hours=2)
        discharged_on = timezone.localdate(discharged_at)
        diagnosis_code, medicines, instructions = DISCHARGE_DETAILS[department]
        downward = services.discharge_with_downward_referral(
            upward.pk,
            actor=coordinator.user,
            discharge_summary=f"{departments[department].name}住院治疗后病情好转出院，请基层继续随访管理。",
            tasks=[
                {"kind": kind, "due_on": discharged_on + datetime.timedelta(days=days), "instructions": "按出院医嘱执行"}
                for kind, days in plan
            ],
            discharge={
                "diagnoses": [{"code": diagnosis_code}],
                "medicines": [
                    {"drug_name": drug, "dose": dose, "frequency": frequency, "days": days}
                    for drug, dose, frequency, days in medicines
                ],
                "instructions": instructions,
                "admitted_on": timezone.localdate(submitted + datetime.timedelta(days=1)),
                "discharged_on": discharged_on,
            },
            now=discharged_at,
        )
        if weeks_ago >= 3:  # the clinic received the older ones back home in one step
            services.receive_downward_referral(
                downward.pk, actor=clinician.user, note="患者已返回本院管理。", now=discharged_at + datetime.timedelta(hours=20)
            )
            report.add("downward referrals received")
        for task in downward.follow_up_tasks.order_by("due_on", "pk"):
            if task.due_on < today - datetime.timedelta(days=3) and rng.random() < 0.8:
                done_at = timezone.make_aware(datetime.datetime.combine(task.due_on, datetime.time(10, 30)))
                outcome = "已按计划完成随访，病情稳定。"
                services.complete_follow_up_task(task.pk, actor=clinician.user, outcome=outcome, now=done_at)
                report.add("follow-ups done")
        if score is not None:
            services.record_satisfaction(
                upward.pk,
                actor=clinician.user,
                score=score,
                comment=SATISFACTION_COMMENTS[score],
                now=discharged_at + datetime.timedelta(days=3),
            )
            report.add("satisfaction ratings")
        report.add("downward referrals")
