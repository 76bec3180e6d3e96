"""The chronic-care part of the demo: programmes, family-doctor teams, a few hundred enrolled patients
with their follow-up history, overdue and missed follow-ups, contracts, and candidates to review.

Deterministic (its own seed) and idempotent: once the consortium has its hypertension programme, a
second run writes nothing. Rows are written in bulk, as an inbound batch would be; the rules that
classify each follow-up are the programme's own (``chronic/rules.py``), so the demo's control mix is
what the worklists and indicators compute, not a label.
"""

import datetime
import random
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone
from pypinyin import lazy_pinyin

from consortium.models import Consortium, Institution, Staff
from records.models import Diagnosis, Encounter, EncounterKind, Observation, Patient, identifier_hash
from records.resident_id import build

from . import rules as R
from .defaults import PROGRAMMES
from .measurements import MEASUREMENTS, observation_row
from .models import (
    Contract,
    ContractKind,
    Enrolment,
    EnrolmentStatus,
    FollowUp,
    FollowUpMethod,
    FollowUpStatus,
    Programme,
    ProgrammeVersion,
    Team,
    TeamMember,
    TeamRole,
)
from .screening import screen_candidates
from .tasks import process_discharges

SEED = 20261201
#: home institution -> enrolled-to-be patients (rural townships and villages, and two urban hospitals)
PATIENTS = {
    "YA-MF-FY": 40, "YA-MF-JZX": 30, "YA-MF": 40, "YA-HLS": 30, "YA-HLS-DS": 15, "ZG-GZ": 30,
    "ZG-GZ-XT": 15, "ZG-QY": 25, "YA-JX": 20, "YC-CH01": 40, "YA-CH01": 30,
}  # fmt: skip
#: (team institution, team name, [(username, role)])
TEAMS = [
    ("YA-MF", "鸣凤镇家庭医生一组", [
        ("mingfeng_doctor", TeamRole.DOCTOR),
        ("fengyang_doctor", TeamRole.VILLAGE_DOCTOR),
        ("mingfeng_public_health", TeamRole.PUBLIC_HEALTH),
    ]),
    ("YA-MF", "鸣凤镇家庭医生二组", [
        ("jiuzixi_doctor", TeamRole.VILLAGE_DOCTOR),
        ("mingfeng_public_health", TeamRole.PUBLIC_HEALTH),
    ]),
    ("YA-HLS", "花林寺镇家庭医生团队", []),
    ("ZG-GZ", "归州镇家庭医生团队", [("guizhou_doctor", TeamRole.DOCTOR)]),
    ("ZG-QY", "屈原镇家庭医生团队", []),
    ("YA-JX", "旧县镇家庭医生团队", []),
    ("YC-CH01", "西陵街道家庭医生团队", []),
    ("YA-CH01", "鸣凤城区家庭医生团队", []),
]  # fmt: skip
TEAM_OF = {"YA-MF-FY": "鸣凤镇家庭医生一组", "YA-MF": "鸣凤镇家庭医生一组", "YA-MF-JZX": "鸣凤镇家庭医生二组"}
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余"
    "杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史"
)
GIVEN = {
    "M": "伟强磊军勇杰涛明超刚平辉鹏华建国文斌波德忠春发志荣",
    "F": "芳娜敏静丽艳娟霞秀英玲桂兰梅琴燕红萍雪慧莉凤翠云珍",
}
#: The patient whose two uncontrolled follow-ups proposed the demo's upward referral (config/demo.py sends it).
TRIGGERED_VILLAGE = "YA-MF-FY"


def seed_chronic(today: datetime.date, report) -> Enrolment | None:
    """Seed chronic care once; returns the enrolment whose trigger proposed a referral (None on a rerun)."""
    consortium = Consortium.objects.order_by("pk").first()
    if consortium is None or Programme.objects.filter(consortium=consortium, code="hypertension").exists():
        return None
    rng = random.Random(SEED)
    versions = _programmes(consortium, report)
    institutions = {i.code: i for i in Institution.objects.filter(code__in=set(PATIENTS) | {t[0] for t in TEAMS})}
    teams = _teams(institutions, report)
    patients = _patients(rng, institutions, report)
    _diagnoses(rng, patients, today, report)
    screen_candidates(now=_at(today - datetime.timedelta(days=400), 8))
    triggered = _enrol_and_follow(rng, patients, versions, teams, today, report)
    _contracts(rng, teams, today, report)
    process_discharges()
    report.add("chronic candidates", Enrolment.objects.filter(status=EnrolmentStatus.CANDIDATE).count())
    return triggered


def _at(day: datetime.date, hour: int) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


def _programmes(consortium, report) -> dict[str, ProgrammeVersion]:
    versions = {}
    for code, name, rules in PROGRAMMES:
        programme = Programme.objects.create(consortium=consortium, code=code, name=name)
        versions[code] = ProgrammeVersion.objects.create(programme=programme, number=1, rules=R.validate_rules(rules))
        report.add("chronic programmes")
    return versions


def _teams(institutions, report) -> dict[str, Team]:
    staff = {
        s.user.username: s
        for s in Staff.objects.select_related("user").filter(user__username__in=[u for t in TEAMS for u, _r in t[2]])
    }
    teams = {}
    for code, name, members in TEAMS:
        team = Team.objects.create(institution=institutions[code], name=name)
        TeamMember.objects.bulk_create(TeamMember(team=team, staff=staff[u], role=role) for u, role in members if u in staff)
        teams[code] = teams.get(code, team)
        teams[name] = team
        report.add("family-doctor teams")
    return teams


def _patients(rng, institutions, report) -> list[Patient]:
    used = set(Patient.objects.values_list("resident_id_hash", flat=True))
    planned = []
    for code, count in PATIENTS.items():
        institution = institutions[code]
        for _n in range(count):
            sex = rng.choice("MF")
            name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN[sex]) for _ in range(rng.choice((1, 2))))
            while True:
                birth = datetime.date(1938, 1, 1) + datetime.timedelta(days=rng.randrange(0, 30 * 365))
                number = build(institution.region_code, birth, rng.randrange(0, 100), sex)
                digest = identifier_hash("resident_id", number)
                if digest not in used:
                    used.add(digest)
                    break
            village = institution.address.rsplit("镇", 1)[-1] if institution.level == "village_clinic" else ""
            planned.append(
                Patient(
                    home_institution=institution,
                    name=name,
                    name_pinyin=" ".join(lazy_pinyin(name)),
                    sex=sex,
                    birth_date=birth,
                    resident_id=number,
                    resident_id_hash=digest,
                    address=institution.address,
                    village=village,
                    consents_to_sharing=rng.random() < 0.6,
                )
            )
    Patient.objects.bulk_create(planned, batch_size=500)
    report.add("chronic demo patients", len(planned))
    return list(
        Patient.objects.filter(resident_id_hash__in=[p.resident_id_hash for p in planned])
        .select_related("home_institution")
        .order_by("pk")
    )


def _diagnoses(rng, patients, today, report) -> None:
    """A diagnosing visit for each patient, long enough ago to have a follow-up history since."""
    visits = []
    for patient in patients:
        day = today - datetime.timedelta(days=rng.randrange(420, 900))
        patient._programmes = ["hypertension"] if rng.random() < 0.68 else ["diabetes"]
        if rng.random() < 0.1:
            patient._programmes = ["hypertension", "diabetes"]
        visits.append(
            Encounter(
                patient=patient,
                institution=patient.home_institution,
                kind=EncounterKind.OUTPATIENT,
                started_at=_at(day, 9),
                chief_complaint="头晕、口干，复查",
            )
        )
    Encounter.objects.bulk_create(visits, batch_size=500)
    rows = []
    for patient, visit in zip(patients, visits, strict=True):
        for code in patient._programmes:
            icd = ("I10", "特发性（原发性）高血压") if code == "hypertension" else ("E11.9", "2型糖尿病，不伴有并发症")
            rows.append(Diagnosis(encounter=visit, code=icd[0], description=icd[1], is_primary=True))
    Diagnosis.objects.bulk_create(rows, batch_size=500)
    report.add("chronic demo visits", len(visits))


def _values(rng, code: str, controlled: bool) -> dict[str, Decimal]:
    if code == "hypertension":
        sbp = rng.randrange(116, 139) if controlled else rng.randrange(142, 172)
        dbp = rng.randrange(68, 89) if controlled else rng.randrange(86, 104)
        return {"bp_systolic": Decimal(sbp), "bp_diastolic": Decimal(dbp), "pulse": Decimal(rng.randrange(62, 92))}
    fbg = Decimal(rng.randrange(50, 69)) / 10 if controlled else Decimal(rng.randrange(72, 118)) / 10
    return {"fbg": fbg}


def _enrol_and_follow(rng, patients, versions, teams, today, report):
    monday = today - datetime.timedelta(days=today.weekday())
    ids = {p.pk: p for p in patients}
    enrolments = list(
        Enrolment.objects.filter(patient_id__in=ids, status=EnrolmentStatus.CANDIDATE).select_related("programme").order_by("pk")
    )
    done, due, missed, visits, observations = [], [], [], [], []
    triggered = None
    for position, enrolment in enumerate(enrolments):
        patient = ids[enrolment.patient_id]
        if position % 25 == 7:  # a few left for the township to review
            continue
        code = enrolment.programme.code
        rules = versions[code].rules
        rural = patient.home_institution.is_rural
        share = 0.58 if rural else 0.72  # share of follow-ups controlled
        enrolled_on = today - datetime.timedelta(days=rng.randrange(200, 400))
        history = 4 if rng.random() < (0.72 if rural else 0.85) else rng.choice((2, 3))
        controls = [rng.random() < share for _ in range(history)]
        is_trigger = triggered is None and patient.home_institution.code == TRIGGERED_VILLAGE and code == "hypertension"
        if is_trigger:
            controls[-2:] = [False, False]
        day = enrolled_on
        last = None
        for step, controlled in enumerate(controls):
            values = _values(rng, code, controlled)
            control = R.classify(rules, values)
            level = R.risk_level(rules, values)
            visit = Encounter(
                patient=patient,
                institution=patient.home_institution,
                kind=EncounterKind.FOLLOW_UP,
                started_at=_at(day, 10),
                chief_complaint=f"{enrolment.programme.name}随访",
            )
            visits.append(visit)
            previous = [f.control for f in reversed(done[-step:])] if step else []
            fired = R.trigger(rules, control, previous) if step else ""
            last = FollowUp(
                enrolment=enrolment,
                version=versions[code],
                due_on=day,
                status=FollowUpStatus.DONE,
                done_on=day,
                method=rng.choice([FollowUpMethod.CLINIC] * 3 + [FollowUpMethod.HOME]),
                measurements={k: str(v) for k, v in values.items()},
                control=control,
                risk_level=level,
                trigger=fired,
                referral_proposed=bool(is_trigger and step == len(controls) - 1),
                recorded_at=_at(day, 11),
            )
            last._visit, last._values = visit, values
            done.append(last)
            day = max(R.next_due(rules, level, control, day), day + datetime.timedelta(days=1))
            span = (today - datetime.timedelta(days=3) - enrolled_on).days
            day = min(day, enrolled_on + datetime.timedelta(days=span * (step + 1) // history))
        roll = rng.random()
        if is_trigger:
            next_on = today + datetime.timedelta(days=14)
        elif roll < 0.15:
            next_on = today - datetime.timedelta(days=rng.randrange(1, 12))  # overdue
        elif roll < 0.40:
            next_on = monday + datetime.timedelta(days=rng.randrange(0, 7))  # this week
        elif roll < 0.45 and monday < today:
            missed.append(
                FollowUp(
                    enrolment=enrolment,
                    version=versions[code],
                    due_on=monday - datetime.timedelta(days=10),
                    status=FollowUpStatus.MISSED,
                    note="电话未接通，外出务工",
                    recorded_at=_at(monday, 8),
                )
            )
            next_on = today + datetime.timedelta(days=7)
        else:
            next_on = today + datetime.timedelta(days=rng.randrange(8, 80))
        due.append(FollowUp(enrolment=enrolment, version=versions[code], due_on=next_on))
        enrolment.status, enrolment.version, enrolment.enrolled_on = EnrolmentStatus.ENROLLED, versions[code], enrolled_on
        home = patient.home_institution
        enrolment.team = teams[TEAM_OF[home.code]] if home.code in TEAM_OF else teams[_team_code(home)]
        enrolment.risk_level, enrolment.last_control, enrolment.next_due_on = last.risk_level, last.control, next_on
        enrolment.decided_at = _at(enrolled_on, 9)
        if is_trigger:
            triggered = enrolment
            triggered._follow_up = last
    Encounter.objects.bulk_create(visits, batch_size=500)
    for follow_up in done:
        follow_up.encounter = follow_up._visit
        for key, value in follow_up._values.items():
            row = observation_row(MEASUREMENTS[key], value)
            observations.append(Observation(encounter=follow_up._visit, observed_at=follow_up._visit.started_at, **row))
    Observation.objects.bulk_create(observations, batch_size=1000)
    FollowUp.objects.bulk_create(done + missed + due, batch_size=500)
    changed = [e for e in enrolments if e.status == EnrolmentStatus.ENROLLED]
    Enrolment.objects.bulk_update(
        changed,
        ["status", "version", "enrolled_on", "team", "risk_level", "last_control", "next_due_on", "decided_at"],
        batch_size=500,
    )
    report.add("chronic enrolments", len(changed))
    report.add("chronic follow-ups", len(done) + len(missed) + len(due))
    return triggered


def _team_code(institution: Institution) -> str:
    return institution.parent.code if institution.level == "village_clinic" and institution.parent_id else institution.code


def _contracts(rng, teams, today, report) -> None:
    """Contracts for a share of the enrolled residents (more in the countryside, as in the national push)."""
    User = get_user_model()
    witness = User.objects.filter(username="mingfeng_public_health").first()
    enrolled = list(
        Enrolment.objects.filter(status=EnrolmentStatus.ENROLLED)
        .select_related("patient__home_institution", "team")
        .order_by("patient_id", "pk")
    )
    seen, contracts, members = set(), [], []
    for enrolment in enrolled:
        patient = enrolment.patient
        if patient.pk in seen or rng.random() > (0.55 if patient.home_institution.is_rural else 0.35):
            continue
        seen.add(patient.pk)
        starts = today - datetime.timedelta(days=rng.randrange(30, 330))
        contract = Contract(
            team=enrolment.team,
            holder=patient,
            kind=ContractKind.RESIDENT,
            package="chronic",
            starts_on=starts,
            ends_on=starts + datetime.timedelta(days=365),
            signature_method=rng.choice(["handwritten", "fingerprint", "electronic"]),
            signed_at=_at(starts, 10),
            signed_by_staff=witness,
        )
        contract._people = [patient]
        contracts.append(contract)
    Contract.objects.bulk_create(contracts, batch_size=500)
    for contract in contracts:
        members += [Contract.members.through(contract_id=contract.pk, patient_id=p.pk) for p in contract._people]
    Contract.members.through.objects.bulk_create(members, batch_size=1000)
    report.add("family-doctor contracts", len(contracts))
