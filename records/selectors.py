"""Reads of patient records."""

import datetime

from django.db import connections, router
from django.db.models import F, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext_lazy as _lazy

from .models import (
    AccessLog,
    AccessOutcome,
    BreakGlassAccess,
    Diagnosis,
    Encounter,
    ListAccessLog,
    MatchReview,
    Observation,
    ObservationKind,
    Patient,
    PatientMerge,
    Prescription,
    ReviewStatus,
    identifier_hashes,
)


def encounters_on(institution, day: datetime.date | None = None) -> QuerySet[Encounter]:
    """The institution's visits on one local day (today by default)."""
    day = day or timezone.localdate()
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
    end = start + datetime.timedelta(days=1)
    return (
        Encounter.objects.filter(institution=institution, started_at__gte=start, started_at__lt=end)
        .select_related("patient", "attending")
        .prefetch_related("diagnoses")
        .order_by("started_at")
    )


#: How far back a visit can still be referred from (the 转诊 button and the new-referral list).
REFERRABLE_DAYS = 30


def referrable_since() -> datetime.datetime:
    """The start of the local day ``REFERRABLE_DAYS`` days ago."""
    day = timezone.localdate() - datetime.timedelta(days=REFERRABLE_DAYS)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def recent_encounters(institution, days: int = REFERRABLE_DAYS) -> QuerySet[Encounter]:
    """The institution's visits of the last ``days`` local days, newest first (visits to refer from)."""
    day = timezone.localdate() - datetime.timedelta(days=days)
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
    return (
        Encounter.objects.filter(institution=institution, started_at__gte=start)
        .select_related("patient", "attending")
        .prefetch_related("diagnoses")
        .order_by("-started_at", "-pk")[:200]
    )


def recently_registered_patients(institution, limit: int = 10) -> QuerySet[Patient]:
    return Patient.objects.filter(home_institution=institution).order_by("-created_at", "-pk")[:limit]


def _iso(value) -> str | None:
    """An instant as ISO 8601 in the consortium's zone (``2026-12-02T04:18:00+08:00``): its first ten
    characters are the local date, so the snapshot's readers never see the UTC day."""
    return timezone.localtime(value).isoformat() if value is not None else None


def _decimal(value) -> str | None:
    return str(value) if value is not None else None


def clinical_summary(patient: Patient, *, limit: int = 5, visits_of: int | None = None) -> dict:
    """A JSON-serialisable snapshot of the patient's recent clinical state (used for referrals).

    It carries no resident ID, phone or address: only the clinical facts and the home institution.
    ``visits_of`` (an access decision's) narrows it to one institution's own visits, without the
    allergies the rest of the record holds.
    """
    visits = Q(patient=patient) if visits_of is None else Q(patient=patient, institution_id=visits_of)
    of_visits = Q(encounter__patient=patient)
    if visits_of is not None:
        of_visits &= Q(encounter__institution_id=visits_of)
    encounters = list(Encounter.objects.filter(visits).select_related("institution").order_by("-started_at", "-pk")[:limit])
    diagnoses = (
        Diagnosis.objects.filter(of_visits)
        .select_related("encounter")
        .order_by("-encounter__started_at", "-is_primary", "pk")[: limit * 2]
    )
    prescriptions = (
        Prescription.objects.filter(of_visits).select_related("encounter").order_by("-encounter__started_at", "pk")[: limit * 2]
    )
    observations = Observation.objects.filter(of_visits).order_by("-observed_at", "pk")[: limit * 4]
    allergies = patient.allergies.all() if visits_of is None else []
    return {
        "patient_id": patient.pk,
        "sex": patient.sex,
        "age": patient.age,
        "home_institution": patient.home_institution.code,
        "generated_at": _iso(timezone.now()),
        "recent_encounters": [
            {
                "id": e.pk,
                "kind": e.kind,
                "institution": e.institution.code,
                "started_at": _iso(e.started_at),
                "chief_complaint": e.chief_complaint,
            }
            for e in encounters
        ],
        "diagnoses": [
            {"code": d.code, "description": d.description, "primary": d.is_primary, "date": _iso(d.encounter.started_at)}
            for d in diagnoses
        ],
        "medications": [
            {"drug": p.drug_name, "dose": p.dose, "frequency": p.frequency, "days": p.days, "date": _iso(p.encounter.started_at)}
            for p in prescriptions
        ],
        "allergies": [{"substance": a.substance, "reaction": a.reaction} for a in allergies],
        "vitals": [_observation(o) for o in observations if o.kind == ObservationKind.VITAL],
        "labs": [_observation(o) for o in observations if o.kind == ObservationKind.LAB],
    }


def _observation(o: Observation) -> dict:
    return {
        "code": o.code,
        "name": o.name,
        "value": _decimal(o.value),
        "unit": o.unit,
        "reference_low": _decimal(o.reference_low),
        "reference_high": _decimal(o.reference_high),
        "out_of_range": o.out_of_range,
        "observed_at": _iso(o.observed_at),
    }


def _name_condition(text: str) -> Q:
    """Name, insurance number, or pinyin: spaced (``liang feng``), joined (``liangfengjun``) or initials (``lfj``)."""
    import re

    from .pinyin import compact

    condition = Q(name__contains=text) | Q(insurance_number=text)
    squeezed = compact(text)
    if squeezed.isascii() and squeezed.isalpha():
        letters = [re.escape(letter) for letter in squeezed]
        # Joined pinyin: the typed letters in order, a space allowed between any two (a prefix of the name).
        condition |= Q(name_pinyin__istartswith=text.lower()) | Q(name_pinyin__iregex="^" + " ?".join(letters))
        if 2 <= len(squeezed) <= 4:
            # Initials: one syllable per letter, the whole name.
            condition |= Q(name_pinyin__iregex="^" + " ".join(f"{letter}[a-z]*" for letter in letters) + "$")
    return condition


def search_patients(user, query: str, limit: int = 50) -> QuerySet[Patient]:
    """Patients the user may read that match the query.

    The query is a full resident ID, a phone or insurance number, or a name (characters, pinyin,
    joined pinyin or initials) optionally with the last 4 to 6 digits of the resident ID or phone
    (``梁 1234``, ``lfj 5678``): the digits alone find nothing, so a short number never lists strangers.
    """
    from .access import readable_patients
    from .resident_id import normalize

    query = (query or "").strip()
    patients = readable_patients(user).filter(merged_into__isnull=True).select_related("home_institution")
    if not query:
        return patients.none()
    number = normalize(query)
    if len(number) == 18:
        condition = Q(resident_id_hash__in=identifier_hashes("resident_id", number))
    elif number.isdigit():
        condition = Q(phone_hash__in=identifier_hashes("phone", number)) | Q(insurance_number=number)
    else:
        words = query.replace("，", " ").replace(",", " ").split()
        tails = [w.upper() for w in words if 4 <= len(w) <= 6 and w[:-1].isdigit() and (w[-1].isdigit() or w[-1] in "xX")]
        names = [w for w in words if w.upper() not in tails]
        if tails and names:
            named = patients.filter(_name_condition(" ".join(names)))
            return patients.filter(pk__in=_ending_with(named, tails, limit)).order_by("name_pinyin", "pk")
        condition = _name_condition(query)
    return patients.filter(condition).order_by("name_pinyin", "pk")[:limit]


def _ending_with(named: QuerySet[Patient], tails: list[str], limit: int) -> list[int]:
    """Ids of the first ``limit`` patients of ``named`` whose resident ID or phone ends with every tail.

    Resident IDs and phones are encrypted at rest, so the name narrows the candidates in SQL and the
    last digits are compared on the decrypted values, a chunk of candidates at a time.
    """
    found: list[int] = []
    candidates = named.order_by("name_pinyin", "pk").values_list("pk", "resident_id", "phone")
    for pk, resident_id, phone in candidates.iterator(chunk_size=500):
        if all(resident_id.endswith(tail) or phone.endswith(tail) for tail in tails):
            found.append(pk)
            if len(found) >= limit:
                break
    return found


def timeline(user, patient: Patient, decision=None) -> list[Encounter]:
    """The patient's visits the viewer may see, newest first.

    With the whole record open (``decision.full``): every institution in the viewer's consortium.
    With only the viewer's own visits open (``decision.visits_of``): that institution's visits.
    """
    from consortium.permissions import Action, institution_ids_for

    from .access import can_read_patient

    decision = decision if decision is not None else can_read_patient(user, patient)
    if not decision:
        return []
    encounters = (
        Encounter.objects.filter(patient=patient)
        .select_related("institution", "department", "attending")
        .prefetch_related("diagnoses", "prescriptions", "observations", "charge_items", "revisions")
        .order_by("-started_at", "-pk")
    )
    if decision.visits_of is not None:
        return list(encounters.filter(institution_id=decision.visits_of))
    visible = institution_ids_for(user, Action.VIEW_INSTITUTION)
    if visible is not None:
        encounters = encounters.filter(Q(institution_id__in=visible) | Q(institution_id=patient.home_institution_id))
    return list(encounters)


def lists_showing(patient: Patient) -> QuerySet[ListAccessLog]:
    """The list entries that showed the patient (a queue, a worklist, claims, ...): ``patient_ids``
    contains the id — ``@>`` under a GIN index on PostgreSQL, ``json_each`` on SQLite."""
    rows = ListAccessLog.objects.filter(outcome=AccessOutcome.ALLOWED).select_related("user__staff", "api_client", "institution")
    if connections[router.db_for_read(ListAccessLog)].vendor == "postgresql":
        return rows.filter(patient_ids__contains=[patient.pk])
    seen_in = RawSQL(  # noqa: S611 - a constant statement, the id bound as a parameter
        "SELECT l.id FROM records_listaccesslog l, json_each(l.patient_ids) j WHERE j.value = %s", [patient.pk]
    )
    return rows.filter(pk__in=seen_in)


def access_log_for(patient: Patient, limit: int = 200) -> list:
    """The patient's access log, newest first: reads of the record and the lists that showed the patient."""
    reads = AccessLog.objects.filter(patient=patient).select_related("user__staff", "api_client", "institution", "break_glass")
    lists = lists_showing(patient).order_by("-occurred_at", "-pk")
    return sorted([*reads[:limit], *lists[:limit]], key=lambda entry: entry.occurred_at, reverse=True)[:limit]


def break_glass_for(institution) -> QuerySet[BreakGlassAccess]:
    """Break-glass accesses to the institution's patients: awaiting review first, the oldest deadline first."""
    return (
        BreakGlassAccess.objects.filter(patient__home_institution=institution)
        .select_related("patient", "institution", "user__staff", "reviewed_by__staff")
        .order_by(F("reviewed_at").asc(nulls_first=True), F("review_due_at").asc(nulls_last=True), "-started_at")
    )


def break_glass_oversight(user) -> QuerySet[BreakGlassAccess]:
    """Break-glass accesses to patients of every member the privacy officer oversees: awaiting review
    first (the oldest deadline first), then the reviewed ones, newest first."""
    from consortium.permissions import Action, institution_ids_for

    ids = institution_ids_for(user, Action.OVERSEE_PRIVACY)
    grants = BreakGlassAccess.objects.select_related(
        "patient__home_institution", "institution", "user__staff", "reviewed_by__staff"
    ).order_by(F("reviewed_at").asc(nulls_first=True), F("review_due_at").asc(nulls_last=True), "-started_at")
    return grants if ids is None else grants.filter(patient__home_institution_id__in=ids)


def access_report_entries(patient: Patient, since, limit: int = 2000) -> list[AccessLog]:
    """The patient's "who viewed my record" report: every access since ``since``, oldest first — the
    record read, and the lists (queues, worklists, claims) the patient was seen in."""
    reads = list(
        AccessLog.objects.filter(patient=patient, occurred_at__gte=since)
        .select_related("user__staff", "api_client", "institution", "break_glass")
        .order_by("occurred_at", "pk")[:limit]
    )
    lists = list(lists_showing(patient).filter(occurred_at__gte=since).order_by("occurred_at", "pk")[:limit])
    return sorted([*reads, *lists], key=lambda entry: entry.occurred_at)[:limit]


#: What a patient reads for an access path: the part of the platform the access came through.
_PATH_LABELS = (
    ("/api/v1/patients/", _lazy("the patient record (system interface)")),
    ("/api/", _lazy("a system interface")),
    ("/records/patients/", _lazy("the patient record")),
    ("/records/", _lazy("the patient index")),
    ("/referrals/", _lazy("a referral")),
    ("/diagnostics/", _lazy("an examination or test")),
    ("/chronic/", _lazy("chronic-disease care")),
    ("/insurance/", _lazy("insurance claims")),
)


def describe_access_path(path: str) -> str:
    for prefix, label in _PATH_LABELS:
        if path.startswith(prefix):
            return str(label)
    return str(_lazy("another page"))


def open_reviews(institution) -> QuerySet[MatchReview]:
    return MatchReview.objects.filter(status=ReviewStatus.OPEN, candidate__home_institution=institution).select_related(
        "patient__home_institution", "candidate__home_institution"
    )


def merges_for(institution) -> QuerySet[PatientMerge]:
    return PatientMerge.objects.filter(survivor__home_institution=institution).select_related("survivor", "merged")[:50]


def open_notices(institution):
    """Notices to the home institution, open ones first: visits recorded elsewhere and break-glass."""
    from .models import HomeNotice

    return HomeNotice.objects.filter(institution=institution).select_related("patient", "from_institution", "break_glass")


def patient_history(patient: Patient, limit: int = 50):
    """Registration and corrections of a patient, newest first: who, when, which fields (never the values)."""
    from consortium.models import AuditEvent

    from .audit import RecordsAudit

    return (
        AuditEvent.objects.filter(
            object_type="records.patient",
            object_id=str(patient.pk),
            action__in=[RecordsAudit.PATIENT_REGISTERED, RecordsAudit.PATIENT_UPDATED],
        )
        .select_related("actor__staff")
        .order_by("-pk")[:limit]
    )
