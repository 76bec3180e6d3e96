"""Writes to the shared patient record: one function per action, each in one transaction with its audit event.

Audit ``detail`` never carries a name, resident ID or phone: only ids, codes and counts.
"""

import datetime
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from consortium import bulk, phases
from consortium.errors import Conflict, Invalid
from consortium.models import Institution, OutboxEventType
from consortium.permissions import Action, require, staff_of
from consortium.services import purge_outbox_messages, record_audit_event, record_outbox_event

from . import icd10, notices, registry
from .access import break_glass_duration, break_glass_review_window, can_read_patient, may_break_glass
from .audit import RecordsAudit
from .matching import Incoming, MatchResult, Outcome, match_patients, survivors_of
from .models import (
    BreakGlassAccess,
    ChargeItem,
    Consent,
    Diagnosis,
    Encounter,
    EncounterRevision,
    MatchReview,
    Observation,
    Patient,
    PatientIdentifier,
    PatientMerge,
    Prescription,
    ReviewStatus,
    Sex,
    hash_aliases,
    identifier_hash,
    identifier_hashes,
)
from .pinyin import to_pinyin
from .resident_id import normalize, parse

FEN = Decimal("0.01")

PATIENT_FIELDS = (
    "name",
    "name_pinyin",
    "sex",
    "birth_date",
    "resident_id",
    "insurance_number",
    "phone",
    "address",
    "village",
)


def charge_amount(quantity: Decimal, unit_price: Decimal) -> Decimal:
    """quantity × unit price, rounded ROUND_HALF_UP to the fen (0.01 yuan)."""
    return (Decimal(quantity) * Decimal(unit_price)).quantize(FEN, rounding=ROUND_HALF_UP)


def _clean_patient_data(data: dict) -> dict:
    """Normalise and cross-check identifying fields; raise ValidationError keyed by field."""
    cleaned = {key: data.get(key) for key in PATIENT_FIELDS if key in data}
    for key in ("name", "name_pinyin", "insurance_number", "phone", "address", "village"):
        cleaned[key] = (cleaned.get(key) or "").strip()
    cleaned["resident_id"] = normalize(cleaned.get("resident_id") or "")
    errors: dict[str, list] = {}
    if not cleaned["name"]:
        errors.setdefault("name", []).append(_("Enter the patient's name."))
    sex_given = cleaned.get("sex") in ("M", "F", "U")
    if cleaned["phone"] and not (cleaned["phone"].isdigit() and 7 <= len(cleaned["phone"]) <= 15):
        errors.setdefault("phone", []).append(_("A phone number is 7 to 15 digits."))
    if cleaned["resident_id"]:
        try:
            parsed = parse(cleaned["resident_id"])
        except ValidationError as error:
            errors.setdefault("resident_id", []).extend(error.messages)
        else:
            if cleaned.get("birth_date") is None:
                cleaned["birth_date"] = parsed.birth_date
            elif cleaned["birth_date"] != parsed.birth_date:
                errors.setdefault("birth_date", []).append(_("The birth date does not match the one in the resident ID."))
            if not sex_given:
                cleaned["sex"], sex_given = parsed.sex, True
            elif cleaned["sex"] in ("M", "F") and cleaned["sex"] != parsed.sex:
                errors.setdefault("sex", []).append(_("The sex does not match the one in the resident ID."))
    if not sex_given:
        errors.setdefault("sex", []).append(_("Choose the sex."))
    if cleaned.get("birth_date") is None:
        errors.setdefault("birth_date", []).append(_("Enter the birth date."))
    elif cleaned["birth_date"] > timezone.localdate():
        errors.setdefault("birth_date", []).append(_("The birth date cannot be in the future."))
    if errors:
        raise ValidationError(errors)
    if not cleaned["name_pinyin"]:
        cleaned["name_pinyin"] = to_pinyin(cleaned["name"])
    return cleaned


def _duplicate_errors(cleaned: dict, exclude: int | None = None) -> dict:
    errors = {}
    others = Patient.objects.exclude(pk=exclude) if exclude else Patient.objects.all()
    if (
        cleaned["resident_id"]
        and others.filter(resident_id_hash__in=identifier_hashes("resident_id", cleaned["resident_id"])).exists()
    ):
        errors["resident_id"] = [_("A patient with this resident ID is already registered.")]
    if cleaned["insurance_number"] and others.filter(insurance_number=cleaned["insurance_number"]).exists():
        errors["insurance_number"] = [_("A patient with this insurance number is already registered.")]
    return errors


def _record_consent(*, actor, patient: Patient, granted: bool, institution, note: str = "") -> Consent:
    consent = Consent.objects.create(
        patient=patient,
        granted=granted,
        recorded_by=actor if getattr(actor, "pk", None) else None,
        institution=institution,
        note=note,
    )
    Patient.objects.filter(pk=patient.pk).update(consents_to_sharing=granted, updated_at=timezone.now())
    patient.consents_to_sharing = granted
    if not granted:
        # No copy of the patient's identifiers stays in the outbox once consent is withdrawn.
        purge_outbox_messages(patient_id=patient.pk)
    return consent


def _registered_under(registration_key: str | None) -> Patient | None:
    return Patient.objects.filter(registration_key=registration_key).first() if registration_key else None


class PossibleDuplicate(Conflict):
    """Registration found a patient who may be the same person; the clerk decides before anything is saved.

    ``candidate`` is the best existing match and ``score`` its similarity.
    """

    code = "possible_duplicate"

    def __init__(self, candidate: Patient, score: float):
        super().__init__(_("A patient who may be the same person is already registered."))
        self.candidate = candidate
        self.score = score


class DuplicateCheck:
    """What :func:`register_patient` does when the matcher finds a likely duplicate."""

    ASK = "ask"  # refuse with PossibleDuplicate, so that the clerk can choose
    REVIEW = "review"  # register, and queue the pair for the home institution's review


def _likely_duplicate(cleaned: dict) -> MatchResult | None:
    """The matcher's best candidate at or above the review threshold, for a registration without an exact identifier."""
    result = match_patients([Incoming.of(cleaned)])[0]
    if result.outcome in (Outcome.LINKED, Outcome.REVIEW) and result.patient is not None:
        return result
    return None


def register_patient(
    *,
    actor,
    institution: Institution,
    data: dict,
    consents_to_sharing: bool = False,
    registration_key: str | None = None,
    duplicates: str = DuplicateCheck.REVIEW,
) -> tuple[Patient, bool]:
    """Register a patient at ``institution``; returns (patient, created).

    Retrying with the same ``registration_key`` returns the patient created the first time.
    A resident ID or insurance number that is already registered is a validation error. Otherwise
    the matcher looks for the same person under other details (name, pinyin, birth date, sex,
    village): with ``duplicates=ASK`` a likely match raises :class:`PossibleDuplicate` and nothing is
    written; with ``REVIEW`` the patient is registered and the pair goes to the review queue.
    """
    require(actor, Action.REGISTER_PATIENT, institution)
    if (existing := _registered_under(registration_key)) is not None:
        return existing, False
    cleaned = _clean_patient_data(data)
    errors = _duplicate_errors(cleaned)
    if errors:
        # The duplicate may be this very registration, committed by a concurrent retry just now.
        if (existing := _registered_under(registration_key)) is not None:
            return existing, False
        raise ValidationError(errors)
    likely = _likely_duplicate(cleaned)
    if likely is not None and duplicates == DuplicateCheck.ASK:
        raise PossibleDuplicate(likely.patient, likely.score)
    try:
        with transaction.atomic():
            patient = Patient(home_institution=institution, registration_key=registration_key or None, **cleaned)
            patient.save()
            if consents_to_sharing:
                _record_consent(actor=actor, patient=patient, granted=True, institution=institution, note="registration")
            if likely is not None:
                MatchReview.objects.get_or_create(
                    patient=patient, candidate=likely.patient, defaults={"score": likely.score, "source": "registration"}
                )
            record_audit_event(
                actor=actor,
                action=RecordsAudit.PATIENT_REGISTERED,
                obj=patient,
                institution=institution,
                detail={"consents_to_sharing": consents_to_sharing, "review_candidate": likely.patient.pk if likely else None},
            )
    except IntegrityError:
        # A concurrent retry with the same key or identifier won the race.
        if (existing := _registered_under(registration_key)) is not None:
            return existing, False
        raise ValidationError(
            _duplicate_errors(cleaned) or {"resident_id": [_("This patient was registered concurrently.")]}
        ) from None
    return patient, True


def update_patient(*, actor, patient: Patient, data: dict, reason: str = "") -> Patient:
    """Correct a patient's details (audited with the names of the fields changed, never their values).

    Changing the resident ID needs a ``reason`` and is re-checked for uniqueness, like a registration.
    """
    require(actor, Action.REGISTER_PATIENT, patient.home_institution_id)
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        merged = {key: getattr(patient, key) for key in PATIENT_FIELDS} | data
        cleaned = _clean_patient_data(merged)
        changed = sorted(key for key, value in cleaned.items() if getattr(patient, key) != value)
        reason = (reason or "").strip()
        if "resident_id" in changed and patient.resident_id and not reason:
            raise ValidationError({"reason": [_("Give the reason for changing the resident ID.")]})
        errors = _duplicate_errors(
            {key: cleaned[key] if key in changed else "" for key in ("resident_id", "insurance_number")}, patient.pk
        )
        if errors:
            raise ValidationError(errors)
        if not changed:
            return patient
        for key in changed:
            setattr(patient, key, cleaned[key])
        try:
            with transaction.atomic():
                patient.save()
        except IntegrityError:
            raise ValidationError(_duplicate_errors(cleaned, patient.pk)) from None
        record_audit_event(
            actor=actor,
            action=RecordsAudit.PATIENT_UPDATED,
            obj=patient,
            institution=patient.home_institution,
            detail={"fields": changed, "reason": reason},
        )
    return patient


def record_access_report(*, actor, patient: Patient, entries: int, path: str):
    """The home institution printed the patient's "who viewed my record" report: a print of the
    record in the access log and an audit event, in one transaction."""
    from .access import log_patient_access
    from .models import AccessAction, AccessReason

    require(actor, Action.VIEW_ACCESS_LOG, patient.home_institution_id)
    with transaction.atomic():
        log_patient_access(actor, patient, path, AccessReason.OWN_INSTITUTION, action=AccessAction.PRINT)
        return record_audit_event(
            actor=actor,
            action=RecordsAudit.ACCESS_REPORT_PRINTED,
            obj=patient,
            institution=patient.home_institution,
            detail={"entries": entries},
        )


def record_consent(*, actor, patient: Patient, granted: bool, note: str = "") -> Consent:
    require(actor, Action.REGISTER_PATIENT, patient.home_institution_id)
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        consent = _record_consent(actor=actor, patient=patient, granted=granted, institution=patient.home_institution, note=note)
        record_audit_event(
            actor=actor,
            action=RecordsAudit.CONSENT_RECORDED,
            obj=patient,
            institution=patient.home_institution,
            detail={"granted": granted, "consent_id": consent.pk},
        )
    return consent


MIN_BREAK_GLASS_REASON = 10


MIN_BREAK_GLASS_DISTINCT = 5  # different characters: "aaaaaaaaaa" or "1111111111" is no reason


def check_break_glass_reason(reason_code: str, reason: str) -> str:
    """A coded reason and a written one with real content; checked before any patient is looked up, so the
    answer is the same whether or not the resident ID is registered."""
    from .models import BreakGlassReason

    reason = " ".join((reason or "").split())
    errors: dict[str, list] = {}
    if reason_code not in BreakGlassReason.values:
        errors["reason_code"] = [_("Choose why the record must be opened.")]
    letters = [ch for ch in reason if ch.isalnum()]
    if len(reason) < MIN_BREAK_GLASS_REASON or len(set(letters)) < MIN_BREAK_GLASS_DISTINCT:
        errors["reason"] = [
            _("Write the clinical reason in words (at least %(count)d characters).") % {"count": MIN_BREAK_GLASS_REASON}
        ]
    if errors:
        raise ValidationError(errors)
    return reason


def start_break_glass(*, actor, patient: Patient, reason: str, reason_code: str = "emergency") -> BreakGlassAccess:
    """Open time-limited emergency access; the home institution is notified and sees it in its access log."""
    reason = check_break_glass_reason(reason_code, reason)
    if not may_break_glass(actor, patient):
        raise PermissionDenied
    staff = staff_of(actor)
    with transaction.atomic():
        now = timezone.now()
        grant = BreakGlassAccess.objects.create(
            patient=patient,
            user=actor,
            institution=staff.institution,
            reason_code=reason_code,
            reason=reason,
            started_at=now,
            expires_at=now + break_glass_duration(),
            review_due_at=now + break_glass_review_window(),
        )
        notices.note_break_glass(grant)
        record_audit_event(
            actor=actor,
            action=RecordsAudit.BREAK_GLASS,
            obj=patient,
            institution=patient.home_institution,
            detail={
                "break_glass_id": grant.pk,
                "from_institution": staff.institution.code,
                "reason_code": reason_code,
                "expires_at": grant.expires_at.isoformat(),
            },
        )
    return grant


def acknowledge_notice(*, actor, notice):
    """The home institution acknowledges a notice; the next visit from there opens a new one."""
    from .models import HomeNotice

    require(actor, Action.VIEW_ACCESS_LOG, notice.institution_id)
    with transaction.atomic():
        notice = HomeNotice.objects.select_for_update().get(pk=notice.pk)
        if notice.acknowledged_at is None:
            notice.acknowledged_at = timezone.now()
            notice.acknowledged_by = actor
            notice.save(update_fields=["acknowledged_at", "acknowledged_by"])
            record_audit_event(
                actor=actor,
                action=RecordsAudit.NOTICE_ACKNOWLEDGED,
                obj=notice,
                institution=notice.institution,
                detail={"patient_id": notice.patient_id, "kind": notice.kind},
            )
    return notice


MIN_REVIEW_NOTE = 10


def review_break_glass(*, actor, grant: BreakGlassAccess, outcome: str = "justified", note: str = "") -> BreakGlassAccess:
    """The home institution reviews a break-glass: justified or not, with a note (required when not).

    Reviewed once; a second review of the same access is a conflict.  A break-glass found not
    justified is told at once to the consortium's privacy officers."""
    from .models import BreakGlassReview

    require(actor, Action.VIEW_ACCESS_LOG, grant.patient.home_institution_id)
    note = " ".join((note or "").split())
    if outcome not in BreakGlassReview.values:
        raise Invalid(_("Choose whether the access was justified."), field="outcome")
    if outcome == BreakGlassReview.NOT_JUSTIFIED and len(note) < MIN_REVIEW_NOTE:
        raise Invalid(
            _("Say why the access was not justified (at least %(count)d characters).") % {"count": MIN_REVIEW_NOTE},
            field="note",
        )
    with transaction.atomic():
        grant = BreakGlassAccess.objects.select_for_update().select_related("patient__home_institution").get(pk=grant.pk)
        if grant.reviewed_at is not None:
            raise Conflict(_("This break-glass access was already reviewed."))
        now = timezone.now()
        overdue = grant.review_due_at is not None and grant.review_due_at < now
        grant.reviewed_at, grant.reviewed_by, grant.review_outcome, grant.review_note = now, actor, outcome, note
        grant.save(update_fields=["reviewed_at", "reviewed_by", "review_outcome", "review_note"])
        record_audit_event(
            actor=actor,
            action=RecordsAudit.BREAK_GLASS_REVIEWED,
            obj=grant,
            institution=grant.patient.home_institution,
            detail={"patient_id": grant.patient_id, "outcome": outcome, "overdue": overdue},
        )
        if outcome == BreakGlassReview.NOT_JUSTIFIED:
            notices.note_unjustified_break_glass(grant)
    return grant


def record_allergy(*, actor, institution: Institution, patient: Patient, substance: str, reaction: str = ""):
    """Add an allergy to the patient's record (any institution that may read the patient and records visits)."""
    from .models import Allergy

    require(actor, Action.RECORD_ENCOUNTER, institution)
    if not can_read_patient(actor, patient):
        raise PermissionDenied
    substance, reaction = (substance or "").strip(), (reaction or "").strip()
    if not substance:
        raise ValidationError({"substance": [_("Enter the substance the patient is allergic to.")]})
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        if patient.allergies.filter(substance=substance).exists():
            raise ValidationError({"substance": [_("This allergy is already recorded.")]})
        allergy = Allergy.objects.create(patient=patient, substance=substance[:100], reaction=reaction[:200])
        record_audit_event(
            actor=actor,
            action=RecordsAudit.ALLERGY_RECORDED,
            obj=allergy,
            institution=institution,
            detail={"patient_id": patient.pk},
        )
    return allergy


# --- encounters -------------------------------------------------------------------------------


@dataclass
class EncounterInput:
    kind: str
    started_at: datetime.datetime
    chief_complaint: str = ""
    ended_at: datetime.datetime | None = None
    department_id: int | None = None
    attending_id: int | None = None
    external_id: str = ""
    diagnoses: list[dict] = field(default_factory=list)  # code, is_primary
    prescriptions: list[dict] = field(default_factory=list)  # drug_name, drug_code, dose, frequency, days
    observations: list[dict] = field(default_factory=list)  # kind, code, name, value, unit, reference_low/high
    charge_items: list[dict] = field(default_factory=list)  # item_code, name, category, catalogue_class, quantity, unit_price


def _validate_encounter(data: EncounterInput, institution) -> dict:
    errors: dict[str, list] = {}
    from .models import CatalogueClass, ChargeCategory, EncounterKind, ObservationKind

    if data.kind not in EncounterKind.values:
        errors.setdefault("kind", []).append(_("Choose the kind of visit."))
    if data.started_at is None:
        errors.setdefault("started_at", []).append(_("Enter when the visit started."))
    elif data.started_at > timezone.now() + datetime.timedelta(minutes=5):
        errors.setdefault("started_at", []).append(_("The visit cannot start in the future."))
    if data.ended_at and data.started_at and data.ended_at < data.started_at:
        errors.setdefault("ended_at", []).append(_("The visit cannot end before it starts."))
    for item in data.diagnoses:
        try:
            icd10.check_code(item.get("code", ""))
        except Invalid as error:
            errors.setdefault("diagnoses", []).append(error.message)
    if sum(bool(item.get("is_primary")) for item in data.diagnoses) > 1:
        errors.setdefault("diagnoses", []).append(_("Only one diagnosis can be primary."))
    for item in data.prescriptions:
        if not (item.get("drug_name") or "").strip():
            errors.setdefault("prescriptions", []).append(_("Each prescription needs a drug."))
        days = item.get("days")
        if days is not None and (int(days) < 1 or int(days) > 365):
            errors.setdefault("prescriptions", []).append(_("Days must be between 1 and 365."))
    for item in data.observations:
        if item.get("kind", ObservationKind.VITAL) not in ObservationKind.values or not item.get("code") or not item.get("name"):
            errors.setdefault("observations", []).append(_("Each observation needs a kind, a code and a name."))
        if item.get("value") is None:
            errors.setdefault("observations", []).append(_("Each observation needs a value."))
        low, high = item.get("reference_low"), item.get("reference_high")
        if low is not None and high is not None and Decimal(low) > Decimal(high):
            errors.setdefault("observations", []).append(_("The reference range is upside down."))
    for item in data.charge_items:
        if item.get("category") not in ChargeCategory.values:
            errors.setdefault("charge_items", []).append(_("Choose a charge category."))
        if item.get("catalogue_class") not in CatalogueClass.values:
            errors.setdefault("charge_items", []).append(_("Choose catalogue class A, B or C."))
        if not item.get("item_code") or not item.get("name"):
            errors.setdefault("charge_items", []).append(_("Each charge item needs a code and a name."))
        quantity, price = item.get("quantity"), item.get("unit_price")
        if quantity is None or Decimal(quantity) <= 0:
            errors.setdefault("charge_items", []).append(_("The quantity must be more than zero."))
        if price is None or Decimal(price) < 0:
            errors.setdefault("charge_items", []).append(_("The unit price cannot be negative."))
    if data.department_id and not institution.departments.filter(pk=data.department_id).exists():
        errors.setdefault("department", []).append(_("Choose a department of this institution."))
    if data.attending_id and not institution.staff.filter(pk=data.attending_id).exists():
        errors.setdefault("attending", []).append(_("Choose a staff member of this institution."))
    return errors


def record_encounter(
    *, actor, institution: Institution, patient: Patient, data: EncounterInput, check_patient_access: bool = True
) -> Encounter:
    """Record a visit with its diagnoses, prescriptions, observations and charges; tells subscribers via the outbox.

    ``check_patient_access=False`` is for inbound records whose patient was resolved by MPI matching
    on identifiers the sender holds (a walk-in at the sender's own institution).
    """
    require(actor, Action.RECORD_ENCOUNTER, institution)
    if check_patient_access and patient.home_institution_id != institution.pk and not can_read_patient(actor, patient):
        raise PermissionDenied
    errors = _validate_encounter(data, institution)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        encounter = Encounter.objects.create(
            patient=patient,
            institution=institution,
            kind=data.kind,
            started_at=data.started_at,
            ended_at=data.ended_at,
            chief_complaint=data.chief_complaint.strip(),
            department_id=data.department_id,
            attending_id=data.attending_id,
            external_id=data.external_id,
        )
        _write_details(encounter, data)
        notices.note_visits_elsewhere([(patient.pk, institution.pk)])
        record_audit_event(
            actor=actor,
            action=RecordsAudit.ENCOUNTER_RECORDED,
            obj=encounter,
            institution=institution,
            detail={
                "patient_id": patient.pk,
                "diagnoses": [d["code"] for d in data.diagnoses],
                "charge_items": len(data.charge_items),
            },
        )
        record_outbox_event(
            event_type=OutboxEventType.ENCOUNTER,
            obj=encounter,
            patient_id=patient.pk,
            institution=institution,
            payload={"encounter_id": encounter.pk, "kind": encounter.kind},
        )
    return encounter


def _write_details(encounter: Encounter, data: EncounterInput) -> None:
    Diagnosis.objects.bulk_create(
        Diagnosis(
            encounter=encounter,
            code=icd10.lookup(d["code"]).code,
            description=(d.get("description") or icd10.lookup(d["code"]).name_zh)[:200],
            is_primary=bool(d.get("is_primary")),
        )
        for d in data.diagnoses
    )
    Prescription.objects.bulk_create(
        Prescription(
            encounter=encounter,
            drug_code=p.get("drug_code", ""),
            drug_name=p["drug_name"].strip(),
            dose=p.get("dose", ""),
            frequency=p.get("frequency", ""),
            days=p.get("days"),
        )
        for p in data.prescriptions
    )
    Observation.objects.bulk_create(
        Observation(
            encounter=encounter,
            kind=o.get("kind", "vital"),
            code=o["code"],
            name=o["name"],
            value=Decimal(o["value"]),
            unit=o.get("unit", ""),
            reference_low=o.get("reference_low"),
            reference_high=o.get("reference_high"),
            observed_at=o.get("observed_at") or encounter.started_at,
        )
        for o in data.observations
    )
    ChargeItem.objects.bulk_create(
        ChargeItem(
            encounter=encounter,
            item_code=c["item_code"],
            name=c["name"],
            category=c["category"],
            catalogue_class=c["catalogue_class"],
            quantity=Decimal(c["quantity"]),
            unit_price=Decimal(c["unit_price"]),
            amount=charge_amount(c["quantity"], c["unit_price"]),
        )
        for c in data.charge_items
    )


EDITABLE_ENCOUNTER_FIELDS = ("kind", "started_at", "ended_at", "chief_complaint", "department_id", "attending_id")


def _jsonable(value):
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _diagnosis_list(encounter: Encounter) -> list[str]:
    """The encounter's diagnosis codes, the primary one first (the shape kept in revisions)."""
    return [d.code for d in encounter.diagnoses.order_by("-is_primary", "pk")]


def update_encounter(*, actor, encounter: Encounter, changes: dict) -> EncounterRevision | None:
    """Edit an encounter's header fields and diagnoses; keeps a revision (who, when, old → new) of what changed.

    ``changes["diagnoses"]``, when given, is the full new list of ICD-10 codes, the primary one first.
    """
    require(actor, Action.RECORD_ENCOUNTER, encounter.institution_id)
    with transaction.atomic():
        encounter = Encounter.objects.select_for_update().get(pk=encounter.pk)
        current = {key: getattr(encounter, key) for key in EDITABLE_ENCOUNTER_FIELDS}
        proposed = current | {key: value for key, value in changes.items() if key in EDITABLE_ENCOUNTER_FIELDS}
        current_codes = _diagnosis_list(encounter)
        proposed_codes = [code.strip().upper() for code in changes.get("diagnoses", current_codes) if code.strip()]
        data = EncounterInput(
            kind=proposed["kind"],
            started_at=proposed["started_at"],
            ended_at=proposed["ended_at"],
            chief_complaint=proposed["chief_complaint"] or "",
            department_id=proposed["department_id"],
            attending_id=proposed["attending_id"],
            diagnoses=[{"code": code, "is_primary": i == 0} for i, code in enumerate(proposed_codes)],
        )
        errors = _validate_encounter(data, encounter.institution)
        if len(set(proposed_codes)) != len(proposed_codes):
            errors.setdefault("diagnoses", []).append(_("Each diagnosis code only once."))
        if errors:
            raise ValidationError(errors)
        diff = {
            key: {"from": _jsonable(current[key]), "to": _jsonable(proposed[key])}
            for key in EDITABLE_ENCOUNTER_FIELDS
            if current[key] != proposed[key]
        }
        if proposed_codes != current_codes:
            diff["diagnoses"] = {"from": current_codes, "to": proposed_codes}
        if not diff:
            return None
        header = [key for key in diff if key in EDITABLE_ENCOUNTER_FIELDS]
        for key in header:
            setattr(encounter, key, proposed[key])
        if header:
            encounter.save(update_fields=header)
        if "diagnoses" in diff:
            encounter.diagnoses.all().delete()
            _write_details(encounter, EncounterInput(kind=data.kind, started_at=data.started_at, diagnoses=data.diagnoses))
        revision = EncounterRevision.objects.create(
            encounter=encounter, changed_by=actor if getattr(actor, "pk", None) else None, changes=diff
        )
        record_audit_event(
            actor=actor,
            action=RecordsAudit.ENCOUNTER_UPDATED,
            obj=encounter,
            institution=encounter.institution,
            detail={"fields": sorted(diff), "revision_id": revision.pk},
        )
        record_outbox_event(
            event_type=OutboxEventType.ENCOUNTER,
            obj=encounter,
            patient_id=encounter.patient_id,
            institution=encounter.institution,
            payload={"encounter_id": encounter.pk, "kind": encounter.kind, "revision_id": revision.pk},
        )
    return revision


# --- matching, review, merge ------------------------------------------------------------------


@dataclass(frozen=True)
class IncomingPatientResult:
    outcome: Outcome
    patient: Patient
    score: float
    review: MatchReview | None = None


def receive_patients(*, actor, institution: Institution, rows: list[dict], source: str) -> list[IncomingPatientResult]:
    """Resolve inbound patient records to MPI patients: exact/linked reuse, review and new create.

    ``rows`` carry the identifying fields plus optional ``local_id`` (the sender's own number),
    which is recorded as a :class:`PatientIdentifier`.  Rows are expected to be valid already.
    """
    require(actor, Action.REGISTER_PATIENT, institution)
    incoming = [Incoming.of(row) for row in rows]
    results: list[IncomingPatientResult] = []
    with transaction.atomic():
        matches: list[MatchResult] = match_patients(incoming)
        for row, match in zip(rows, matches, strict=True):
            review = None
            if match.outcome in (Outcome.EXACT, Outcome.LINKED):
                patient = match.patient
            else:
                cleaned = _clean_patient_data(row)
                patient = Patient(home_institution=institution, **cleaned)
                patient.save()
                if match.outcome == Outcome.REVIEW:
                    review = MatchReview.objects.create(
                        patient=patient, candidate=match.patient, score=match.score, source=source
                    )
            if row.get("local_id"):
                PatientIdentifier.objects.get_or_create(
                    institution=institution, value=row["local_id"], defaults={"patient": patient}
                )
            record_audit_event(
                actor=actor,
                action=RecordsAudit(f"records.patient_{match.outcome}"),
                obj=patient,
                institution=institution,
                detail={"score": match.score, "source": source, "review_id": review.pk if review else None},
            )
            results.append(IncomingPatientResult(match.outcome, patient, match.score, review))
    return results


@dataclass
class BatchPatient:
    """A patient as an inbound batch row names it: identifiers normalised (the resident ID hashed), text trimmed."""

    resident_id: str = ""
    resident_id_hash: str = ""
    insurance_number: str = ""
    name: str = ""
    sex: str = ""
    birth_date: datetime.date | None = None
    phone: str = ""
    address: str = ""
    village: str = ""


@dataclass
class BatchPatientMatches:
    """What :func:`match_batch_patients` found: ``{row: patient id}``, per-row errors, how many it registered.

    Each error is ``{"row", "field", "code", "message"}`` with ``field`` a patient field (``resident_id``).
    """

    patient_ids: dict[int, int]
    errors: list[dict]
    created: int


def _batch_error(row: int, field_name: str, code: str, message) -> dict:
    return {"row": row, "field": field_name, "code": code, "message": str(message)}


def _check_new_resident_id(row: int, patient: BatchPatient) -> list[dict]:
    """Validate a resident ID the index does not know; fill birth date and sex from it."""
    try:
        parsed = parse(patient.resident_id)
    except ValidationError as exc:
        return [_batch_error(row, "resident_id", "invalid", exc.messages[0])]
    errors = []
    if patient.sex and patient.sex != Sex.UNKNOWN and patient.sex != parsed.sex:
        errors.append(_batch_error(row, "sex", "mismatch", _("Does not match the sex encoded in the resident ID.")))
    if patient.birth_date and patient.birth_date != parsed.birth_date:
        errors.append(_batch_error(row, "birth_date", "mismatch", _("Does not match the birth date encoded in the resident ID.")))
    patient.sex = parsed.sex
    patient.birth_date = parsed.birth_date
    return errors


def _known_patients(resident_ids: dict[str, str]) -> dict[str, int]:
    """``{resident ID hash (writing key): patient id}`` for the known of ``{resident ID: its hash (writing key)}``,
    a merged patient resolved to its survivor.

    Rows still hashed under an older key of the ring (a rotation under way) are found too.
    """
    aliases = hash_aliases("resident_id", resident_ids, hashed=resident_ids)
    if not aliases:
        return {}
    if connection.vendor == "postgresql":
        # One array parameter, not thousands of IN parameters; the predicate of the partial
        # unique index is repeated so that the index serves the lookup.
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, resident_id_hash, merged_into_id FROM {Patient._meta.db_table}"  # noqa: S608
                " WHERE resident_id_hash = ANY(%s) AND NOT (resident_id_hash = '')",
                [list(aliases)],
            )
            rows = cursor.fetchall()
    else:
        rows = list(
            Patient.objects.filter(resident_id_hash__in=aliases)
            .exclude(resident_id_hash="")
            .values_list("pk", "resident_id_hash", "merged_into_id")
        )
    found = {aliases[resident_hash]: pk for pk, resident_hash, merged_into in rows if merged_into is None}
    merged = [pk for pk, _hash, merged_into in rows if merged_into is not None]
    if merged:
        patients = list(Patient.objects.filter(pk__in=merged).only("pk", "resident_id_hash", "merged_into"))
        survivor = survivors_of(patients)
        found.update({aliases[patient.resident_id_hash]: survivor(patient).pk for patient in patients})
    return found


def match_batch_patients(
    *, actor, institution: Institution, patients: list[tuple[int, BatchPatient]], source: str
) -> BatchPatientMatches:
    """Match a batch chunk's patients through the master patient index, set-based; register the new ones in bulk.

    ``patients`` is ``[(row, patient)]``.  A resident ID the index knows is an exact match (one
    query for the chunk).  The rest go through :func:`records.matching.match_patients` (exact on
    insurance number, otherwise a scored match, a fixed number of queries): linked matches reuse
    the patient; uncertain ones register a new patient and queue the pair for review, as
    :func:`receive_patients` does.  A new patient needs a valid resident ID and a name.

    The caller (sync's batch landing, acting as ``SYSTEM`` once the uploader's right to record
    visits for ``institution`` was checked on receipt) runs this inside its chunk's transaction.
    """
    require(actor, Action.REGISTER_PATIENT, institution)
    errors: list[dict] = []
    matched: dict[int, int] = {}
    with phases.phase("MPI: known resident IDs"):
        known = _known_patients(
            {patient.resident_id: patient.resident_id_hash for _row, patient in patients if patient.resident_id_hash}
        )
    rest = []
    with phases.phase("MPI: new resident IDs checked"):
        for row, patient in patients:
            resident_hash = patient.resident_id_hash
            if resident_hash in known:
                matched[row] = known[resident_hash]
                continue
            if resident_hash:
                problems = _check_new_resident_id(row, patient)
                if problems:
                    errors += problems
                    continue
            rest.append((row, patient))
    if not rest:
        return BatchPatientMatches(matched, errors, 0)
    with phases.phase("MPI: scored matcher"):
        return _register_unmatched(institution, rest, matched, errors, source)


def _register_unmatched(institution, rest: list, matched: dict, errors: list, source: str) -> BatchPatientMatches:
    with phases.phase("MPI: names to pinyin"):
        incoming = [
            Incoming.of(
                {
                    "name": patient.name,
                    "sex": patient.sex,
                    "birth_date": patient.birth_date,
                    "resident_id": patient.resident_id,
                    "insurance_number": patient.insurance_number,
                    "village": patient.village,
                }
            )
            for _row, patient in rest
        ]
    to_create: dict[str, dict] = {}
    waiting: list = []
    for (row, patient), candidate, result in zip(
        rest, incoming, match_patients(incoming, resident_ids_unknown=True), strict=True
    ):
        if result.outcome in (Outcome.EXACT, Outcome.LINKED):
            matched[row] = result.patient.pk
        elif not patient.resident_id_hash:
            errors.append(
                _batch_error(row, "resident_id", "required", _("No patient matches; a resident ID is needed to register one."))
            )
        elif not patient.name:
            errors.append(_batch_error(row, "name", "required", _("The name is needed to register a new patient.")))
        else:
            waiting.append((row, patient, result))
            to_create.setdefault(
                patient.resident_id_hash,
                {
                    "home_institution_id": institution.pk,
                    "name": patient.name,
                    "name_pinyin": candidate.name_pinyin,
                    "sex": patient.sex or "U",
                    "birth_date": patient.birth_date,
                    "resident_id": patient.resident_id,
                    "resident_id_hash": patient.resident_id_hash,
                    "insurance_number": patient.insurance_number,
                    "phone": patient.phone,
                    "phone_hash": identifier_hash("phone", patient.phone) if patient.phone else "",
                    "address": patient.address,
                    "village": patient.village,
                },
            )
    with phases.phase("MPI: new patients registered"):
        ids = bulk.insert_ignore(Patient, list(to_create.values()), key="resident_id_hash")
    reviews = {}
    for row, patient, result in waiting:
        pk = ids.get(patient.resident_id_hash)
        if pk is None:
            errors.append(
                _batch_error(row, "insurance_number", "conflict", _("This insurance number belongs to another patient."))
            )
            continue
        matched[row] = pk
        if result.outcome == Outcome.REVIEW and result.patient is not None:
            reviews[(pk, result.patient.pk)] = MatchReview(
                patient_id=pk, candidate_id=result.patient.pk, score=result.score, source=source
            )
    with phases.phase("MPI: review queue"):
        MatchReview.objects.bulk_create(list(reviews.values()), ignore_conflicts=True)
    return BatchPatientMatches(matched, errors, len(ids))


def _movable_models() -> dict[str, registry.PatientOwned]:
    from .models import Allergy

    own = {"encounters": Encounter, "allergies": Allergy, "identifiers": PatientIdentifier}
    return {**{key: registry.PatientOwned(model) for key, model in own.items()}, **registry.patient_owned()}


def _movable_rows(patient: Patient) -> dict[str, list[int]]:
    return {
        key: list(owned.model.objects.filter(**{owned.field: patient}).values_list("pk", flat=True))
        for key, owned in _movable_models().items()
    }


def _merge_conflicts(survivor: Patient, duplicate: Patient) -> list[str]:
    """The kinds of rows both patients hold that may exist only once per patient (one enrolment per programme)."""
    conflicts = []
    for owned in _movable_models().values():
        if not owned.unique_with:
            continue
        kept = set(owned.model.objects.filter(**{owned.field: survivor}).values_list(*owned.unique_with))
        if kept and kept & set(owned.model.objects.filter(**{owned.field: duplicate}).values_list(*owned.unique_with)):
            conflicts.append(str(owned))
    return conflicts


def _move(rows: dict[str, list[int]], to_patient_id: int) -> None:
    for key, owned in _movable_models().items():
        owned.model.objects.filter(pk__in=rows.get(key, [])).update(**{f"{owned.field}_id": to_patient_id})


def merge_patients(*, actor, survivor: Patient, duplicate: Patient) -> PatientMerge:
    """Move the duplicate's records onto the survivor and mark it merged; :func:`unmerge_patients` undoes it."""
    require(actor, Action.MANAGE_PATIENT_INDEX, survivor.home_institution_id)
    if not can_read_patient(actor, duplicate):
        raise PermissionDenied
    if survivor.pk == duplicate.pk:
        raise ValidationError({"duplicate": [_("A patient cannot be merged into itself.")]})
    with transaction.atomic():
        locked = {p.pk: p for p in Patient.objects.select_for_update().filter(pk__in=[survivor.pk, duplicate.pk]).order_by("pk")}
        survivor, duplicate = locked[survivor.pk], locked[duplicate.pk]
        if survivor.merged_into_id or duplicate.merged_into_id:
            raise ValidationError({"duplicate": [_("One of these patients has already been merged.")]})
        if survivor.resident_id and duplicate.resident_id and survivor.resident_id != duplicate.resident_id:
            raise ValidationError({"duplicate": [_("These patients have different resident IDs and cannot be the same person.")]})
        conflicts = _merge_conflicts(survivor, duplicate)
        if conflicts:
            raise ValidationError(
                {
                    "duplicate": [
                        _("Both patients have %(rows)s that can exist only once per patient; end or correct one of them first.")
                        % {"rows": ", ".join(conflicts)}
                    ]
                }
            )
        moved = _movable_rows(duplicate)
        _move(moved, survivor.pk)
        duplicate.merged_into = survivor
        duplicate.save(update_fields=["merged_into", "updated_at"])
        merge = PatientMerge.objects.create(survivor=survivor, merged=duplicate, moved=moved, merged_by=actor)
        MatchReview.objects.filter(patient=duplicate, candidate=survivor, status=ReviewStatus.OPEN).update(
            status=ReviewStatus.LINKED, decided_at=timezone.now(), decided_by=actor
        )
        record_audit_event(
            actor=actor,
            action=RecordsAudit.PATIENTS_MERGED,
            obj=merge,
            institution=survivor.home_institution,
            detail={"survivor_id": survivor.pk, "merged_id": duplicate.pk, "moved": {k: len(v) for k, v in moved.items()}},
        )
    return merge


def unmerge_patients(*, actor, merge: PatientMerge) -> PatientMerge:
    """Put back exactly the rows the merge moved and reactivate the merged patient."""
    require(actor, Action.MANAGE_PATIENT_INDEX, merge.survivor.home_institution_id)
    with transaction.atomic():
        merge = PatientMerge.objects.select_for_update().get(pk=merge.pk)
        if merge.unmerged_at is not None:
            raise ValidationError({"merge": [_("This merge has already been undone.")]})
        Patient.objects.select_for_update().filter(pk__in=[merge.survivor_id, merge.merged_id]).order_by("pk")
        _move(merge.moved, merge.merged_id)
        Patient.objects.filter(pk=merge.merged_id).update(merged_into=None, updated_at=timezone.now())
        merge.unmerged_at = timezone.now()
        merge.unmerged_by = actor
        merge.save(update_fields=["unmerged_at", "unmerged_by"])
        record_audit_event(
            actor=actor,
            action=RecordsAudit.PATIENTS_UNMERGED,
            obj=merge,
            institution=merge.survivor.home_institution,
            detail={"survivor_id": merge.survivor_id, "merged_id": merge.merged_id},
        )
    return merge


def decide_review(*, actor, review: MatchReview, same_person: bool) -> MatchReview:
    """Resolve a queued pair: merge the incoming patient into the candidate, or keep both."""
    require(actor, Action.MANAGE_PATIENT_INDEX, review.candidate.home_institution_id)
    with transaction.atomic():
        review = MatchReview.objects.select_for_update().get(pk=review.pk)
        if review.status != ReviewStatus.OPEN:
            raise ValidationError({"review": [_("This pair has already been decided.")]})
        if same_person:
            merge_patients(actor=actor, survivor=review.candidate, duplicate=review.patient)
        review.status = ReviewStatus.LINKED if same_person else ReviewStatus.SEPARATE
        review.decided_at = timezone.now()
        review.decided_by = actor
        review.save(update_fields=["status", "decided_at", "decided_by"])
        record_audit_event(
            actor=actor,
            action=RecordsAudit.MATCH_REVIEW_DECIDED,
            obj=review,
            institution=review.candidate.home_institution,
            detail={"status": review.status, "score": review.score},
        )
    return review
