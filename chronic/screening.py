"""Finding the patients of a programme, set-based: one ``INSERT ... SELECT`` per programme.

Candidates are the patients of the programme's consortium members (by home institution) with a
diagnosis in the programme's ICD-10 categories or ranges, or a visit whose measurements all meet
the programme's inclusion conditions, who are not on its register yet. The statement inserts them
as candidates at their home institution, found in their latest matching visit; the unique
``(patient, programme)`` constraint as the ``ON CONFLICT DO NOTHING`` arbiter makes a rerun, or two
runs at once, add nobody twice (the second run waits on the first's uncommitted rows, then skips
them). Nothing is loaded into Python row by row: a county of 300,000 patients is one statement per
programme (``bench/chronic`` measures it against a bare ``INSERT ... SELECT``).
"""

import datetime

from django.db import connection, transaction
from django.utils import timezone

from consortium.services import record_audit_event

from . import rules as R
from .audit import ChronicAudit
from .measurements import MEASUREMENTS
from .models import Enrolment, EnrolmentSource, Programme, ProgrammeVersion


def _code_clause(specs: list[str], column: str) -> tuple[str, list]:
    parts, params = [], []
    for spec in specs:
        low, high = R.code_bounds(spec)
        parts.append(f"substr({column}, 1, 3) BETWEEN %s AND %s")
        params += [low, high]
    return "(" + " OR ".join(parts) + ")" if parts else "(1 = 0)", params


def _measurement_clause(version: ProgrammeVersion) -> tuple[str, list]:
    conditions = [R.condition_from(c) for c in version.rules.get("inclusion", {}).get("measurements", [])]
    if not conditions:
        return "(1 = 0)", []
    defs = {vital.key: vital for vital, _required in R.measurement_defs(version.rules)}
    parts, params = [], []
    for condition in conditions:
        vital = defs.get(condition.key) or MEASUREMENTS[condition.key]
        op = next(known for known in R.OPERATORS if known == condition.op)  # one of four literals, never input text
        parts.append(
            f"EXISTS (SELECT 1 FROM records_observation o WHERE o.encounter_id = e.id AND o.code = %s AND o.value {op} %s)"  # noqa: S608
        )
        params += [vital.code, condition.value]
    return "(" + " AND ".join(parts) + ")", params


def candidate_sql(
    version: ProgrammeVersion, *, now: datetime.datetime, source: str, patient_id: int | None = None, institution_id=None
) -> tuple[str, list]:
    """The one statement that inserts a programme's new candidates (exposed for the benchmark)."""
    specs = version.rules.get("inclusion", {}).get("codes", [])
    code_sql, code_params = _code_clause(specs, "d.code")
    measure_sql, measure_params = _measurement_clause(version)
    today = timezone.localdate(now)
    target = "%s" if institution_id else "p.home_institution_id"
    extra, extra_params = "", []
    if patient_id is not None:
        extra, extra_params = " AND e.patient_id = %s", [patient_id]
    members = (
        "p.home_institution_id IN (SELECT m.institution_id FROM consortium_membership m WHERE m.consortium_id = %s"
        " AND m.agreement_start <= %s AND (m.agreement_end IS NULL OR m.agreement_end >= %s))"
    )
    if measure_params:  # visits with a matching diagnosis or matching measurements
        source_sql = " FROM records_encounter e"
        match_sql = f"(EXISTS (SELECT 1 FROM records_diagnosis d WHERE d.encounter_id = e.id AND {code_sql}) OR {measure_sql})"  # noqa: S608 (placeholders only)
    else:  # by diagnosis only: read from the diagnoses in the code ranges, the cheapest way in
        source_sql = " FROM records_diagnosis d JOIN records_encounter e ON e.id = d.encounter_id"
        match_sql, measure_params = code_sql, []
    # The matching visits are reduced to one row per patient (with the latest visit) before anything
    # else is looked up, so the patient and membership checks run once per patient, not once per
    # matching visit. Who is on the register already is left to the arbiter index alone
    # (``ON CONFLICT``): a ``NOT EXISTS`` on the register beside it was planned, when the register was
    # empty or unanalysed, as a scan of the table being written for every row (quadratic: 400 s for the
    # first 100,000 candidates of a county). Only fixed SQL fragments and %s parameter markers are joined here;
    # every value is a parameter.
    sql = (
        "INSERT INTO chronic_enrolment (patient_id, programme_id, version_id, institution_id, status, source,"  # noqa: S608
        " source_encounter_id, risk_level, last_control, reason, medication_plan, found_at)"
        f" SELECT p.id, %s, %s, {target}, 'candidate', %s, found.last_visit, '', '', '', '', %s"
        " FROM (SELECT e.patient_id, MAX(e.id) AS last_visit"
        f"{source_sql}"
        f" WHERE {match_sql}"
        f"{extra}"
        " GROUP BY e.patient_id) found"
        " JOIN records_patient p ON p.id = found.patient_id"
        " WHERE p.merged_into_id IS NULL"
        f" AND {members}"
        " ON CONFLICT (patient_id, programme_id) DO NOTHING"
    )
    params = [version.programme_id, version.pk]
    if institution_id:
        params.append(institution_id)
    params += [source, now, *code_params, *measure_params, *extra_params]
    params += [version.programme.consortium_id, today, today]
    return sql, params


def _current_versions(programme_ids=None) -> list[ProgrammeVersion]:
    programmes = Programme.objects.filter(is_active=True).select_related("consortium")
    if programme_ids is not None:
        programmes = programmes.filter(pk__in=programme_ids)
    versions = []
    for programme in programmes.order_by("pk"):
        version = programme.versions.order_by("-number").select_related("programme").first()
        if version is not None:
            versions.append(version)
    return versions


def screen_candidates(now: datetime.datetime | None = None, programme_ids=None) -> dict[str, int]:
    """The nightly screening: new candidates per programme code; idempotent."""
    now = now or timezone.now()
    found: dict[str, int] = {}
    for version in _current_versions(programme_ids):
        sql, params = candidate_sql(version, now=now, source=EnrolmentSource.SCREENING)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                count = max(cursor.rowcount, 0)
            record_audit_event(
                actor=None,
                action=ChronicAudit.SCREENING,
                obj=version,
                detail={"programme": version.programme.code, "version": version.number, "candidates": count},
            )
        found[version.programme.code] = count
    return found


def candidates_for_patient(patient_id: int, institution_id: int, *, source: str, now: datetime.datetime) -> list[Enrolment]:
    """One patient's new candidacies at ``institution_id`` (a clinic receiving them at discharge)."""
    created = []
    for version in _current_versions():
        sql, params = candidate_sql(version, now=now, source=source, patient_id=patient_id, institution_id=institution_id)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if cursor.rowcount > 0:
                created.append(Enrolment.objects.get(patient_id=patient_id, programme_id=version.programme_id))
    return created
