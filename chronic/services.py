"""Writes of chronic care: one function per action, each checking the actor's right itself.

Every state change follows the house shape (``referrals/services.py::_transition``): lock the row,
look the move up in the table of ``chronic/transitions.py``, check the actor, validate, write, and
record the audit event and the outbox event in one transaction. The rules a follow-up is judged by
are the pure functions of ``chronic/rules.py``; this module only feeds them and stores the result.
"""

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consortium.errors import IllegalTransition, Invalid, NotPermitted
from consortium.models import Institution, Membership, OutboxEventType, Staff
from consortium.permissions import Action, can, institution_ids_for, require, staff_of
from consortium.services import record_audit_event, record_outbox_event
from records.access import can_read_patient
from records.models import Encounter, EncounterKind, Patient
from records.services import EncounterInput, record_encounter

from . import rules as R
from .audit import ChronicAudit
from .measurements import BY_CODE, observation_row, parse_value
from .models import (
    Contract,
    ContractKind,
    ContractStatus,
    Enrolment,
    EnrolmentSource,
    EnrolmentStatus,
    FollowUp,
    FollowUpMethod,
    FollowUpStatus,
    Programme,
    ProgrammeVersion,
    ServicePackage,
    SignatureMethod,
    Team,
    TeamMember,
    TeamRole,
)
from .transitions import (
    ACTION_LABELS,
    CONTRACT_TRANSITIONS,
    ENROLMENT_TRANSITIONS,
    FOLLOW_UP_TRANSITIONS,
    ContractAct,
    EnrolmentAct,
    FollowUpAct,
)

#: A follow-up still due this many days after its date is marked missed by the nightly task.
MISSED_AFTER_DAYS = 14
#: After a hospital discharge the team sees the patient within this many days (national standard: two weeks).
AFTER_DISCHARGE_DAYS = 14
MAX_CONTRACT_YEARS = 3


def _illegal(status_display: str, act) -> IllegalTransition:
    return IllegalTransition(
        _("Something that is “%(status)s” cannot be taken through “%(action)s”.")
        % {"status": status_display, "action": ACTION_LABELS[act]}
    )


def _payload(obj, **extra) -> dict:
    """What other systems learn: ids, codes and states, never names, resident IDs or phones."""
    return {"kind": obj._meta.model_name, "id": obj.pk, **extra}


def _record(*, actor, action: str, obj, institution, patient_id: int | None, detail: dict) -> None:
    record_audit_event(actor=actor, action=ChronicAudit(f"chronic.{action}"), obj=obj, institution=institution, detail=detail)
    record_outbox_event(
        event_type=OutboxEventType.CHRONIC,
        obj=obj,
        patient_id=patient_id,
        institution=institution,
        payload=_payload(obj, action=action, **detail),
    )


# --- programmes ----------------------------------------------------------------------------------


def _require_consortium(actor, consortium) -> None:
    members = set(Membership.objects.active().filter(consortium=consortium).values_list("institution_id", flat=True))
    allowed = institution_ids_for(actor, Action.CONFIGURE_PROGRAMMES)
    if not members or (allowed is not None and not members <= allowed):
        raise NotPermitted


def current_version(programme: Programme) -> ProgrammeVersion:
    return programme.versions.order_by("-number").first()


def version_is_used(version: ProgrammeVersion) -> bool:
    return version.enrolments.exists() or version.follow_ups.exists()


def _checked_rules(rules: dict) -> dict:
    try:
        return R.validate_rules(rules)
    except R.RuleError as error:
        raise Invalid(next(iter(error.errors.values()))[0], errors=error.errors, field=next(iter(error.errors))) from None


def create_programme(*, actor, consortium, code: str, name: str, rules: dict, note: str = "") -> Programme:
    _require_consortium(actor, consortium)
    code, name = (code or "").strip(), (name or "").strip()
    if not code:
        raise Invalid(_("Give the programme a code."), field="code")
    if not name:
        raise Invalid(_("Give the programme a name."), field="name")
    rules = _checked_rules(rules)
    with transaction.atomic():
        if Programme.objects.filter(consortium=consortium, code=code).exists():
            raise Invalid(_("A programme with this code exists already."), field="code")
        programme = Programme.objects.create(consortium=consortium, code=code, name=name)
        version = ProgrammeVersion.objects.create(
            programme=programme, number=1, rules=rules, note=note[:200], created_by=_user(actor)
        )
        record_audit_event(
            actor=actor, action=ChronicAudit.PROGRAMME_CREATED, obj=version, detail={"programme": code, "version": 1}
        )
    return programme


def save_programme_rules(*, actor, programme_id: int, name: str, rules: dict, note: str = "") -> ProgrammeVersion:
    """Change a programme's rules: the latest version in place while nothing used it, else a new version."""
    programme = Programme.objects.get(pk=programme_id)
    _require_consortium(actor, programme.consortium)
    name = (name or "").strip()
    if not name:
        raise Invalid(_("Give the programme a name."), field="name")
    rules = _checked_rules(rules)
    with transaction.atomic():
        programme = Programme.objects.select_for_update().get(pk=programme_id)
        latest = current_version(programme)
        programme.name = name
        programme.save(update_fields=["name"])
        if latest is not None and not version_is_used(latest):
            latest.rules, latest.note = rules, note[:200]
            latest.save(update_fields=["rules", "note"])
            version, action = latest, "programme_edited"
        else:
            number = (latest.number if latest else 0) + 1
            version = ProgrammeVersion.objects.create(
                programme=programme, number=number, rules=rules, note=note[:200], created_by=_user(actor)
            )
            action = "programme_versioned"
        record_audit_event(
            actor=actor,
            action=ChronicAudit(f"chronic.{action}"),
            obj=version,
            detail={"programme": programme.code, "version": version.number},
        )
    return version


def _user(actor):
    return actor if getattr(actor, "pk", None) and not hasattr(actor, "api_client") else None


# --- who may work on an enrolment ----------------------------------------------------------------


def is_team_member(actor, team_id: int | None) -> bool:
    staff = staff_of(actor)
    return bool(staff and staff.pk and team_id and TeamMember.objects.filter(team_id=team_id, staff=staff).exists())


def may_manage(actor, institution_id: int) -> bool:
    return can(actor, Action.MANAGE_CHRONIC, institution_id)


def may_follow_up(actor, enrolment: Enrolment) -> bool:
    """Those who manage the enrolment's institution, its team's members, or the institution's own system (API)."""
    if may_manage(actor, enrolment.institution_id):
        return True
    staff = staff_of(actor)
    if staff is None:
        return False
    if staff.pk is None:  # a member system's API client, for its own institution's enrolments
        return can(actor, Action.RECORD_CHRONIC_FOLLOW_UP, enrolment.institution_id)
    return is_team_member(actor, enrolment.team_id) and can(actor, Action.RECORD_CHRONIC_FOLLOW_UP, staff.institution_id)


# --- enrolments ----------------------------------------------------------------------------------


def _enrolment_transition(enrolment_id: int, act: EnrolmentAct, *, actor, apply, detail: dict | None = None) -> Enrolment:
    with transaction.atomic():
        enrolment = Enrolment.objects.select_for_update().select_related("programme").get(pk=enrolment_id)
        target = ENROLMENT_TRANSITIONS.get((enrolment.status, act))
        if target is None:
            raise _illegal(enrolment.get_status_display(), act)
        if not may_manage(actor, enrolment.institution_id):
            raise NotPermitted
        source = enrolment.status
        apply(enrolment)
        enrolment.status = target
        enrolment.save()
        _record(
            actor=actor,
            action=f"enrolment_{act}",
            obj=enrolment,
            institution=enrolment.institution,
            patient_id=enrolment.patient_id,
            detail={"programme": enrolment.programme.code, "from_status": source, "to_status": target, **(detail or {})},
        )
    return enrolment


def add_candidate(*, actor, patient: Patient, programme: Programme, institution: Institution) -> Enrolment:
    """Put a patient forward for a programme by hand (screening does it in bulk)."""
    require(actor, Action.MANAGE_CHRONIC, institution)
    if patient.home_institution_id != institution.pk and not can_read_patient(actor, patient):
        raise NotPermitted
    with transaction.atomic():
        if Enrolment.objects.filter(patient=patient, programme=programme).exists():
            raise Invalid(_("This patient is on this programme's register already."), field="patient")
        enrolment = Enrolment.objects.create(
            patient=patient,
            programme=programme,
            version=current_version(programme),
            institution=institution,
            source=EnrolmentSource.MANUAL,
        )
        _record(
            actor=actor,
            action="enrolment_candidate",
            obj=enrolment,
            institution=institution,
            patient_id=patient.pk,
            detail={"programme": programme.code, "to_status": enrolment.status},
        )
    return enrolment


def enrol(
    enrolment_id: int, *, actor, team: Team | None = None, risk_level: str = "", now: datetime.datetime | None = None
) -> Enrolment:
    """Enrol a candidate: the current version's rules, a risk level, a team, and the first follow-up due today."""
    now = now or timezone.now()
    today = timezone.localdate(now)

    def apply(enrolment: Enrolment) -> None:
        version = current_version(enrolment.programme)
        levels = [level["code"] for level in version.rules["risk_levels"]]
        level = risk_level or enrolment.risk_level or levels[-1]
        if level not in levels:
            raise Invalid(_("Choose one of the programme's risk levels."), field="risk_level")
        if team is not None and (not team.is_active or not may_manage(actor, team.institution_id)):
            raise Invalid(_("Choose an active team of your institution."), field="team")
        enrolment.version, enrolment.risk_level = version, level
        enrolment.team = team or enrolment.team
        enrolment.enrolled_on, enrolment.decided_at, enrolment.decided_by = today, now, _user(actor)
        enrolment.reason = ""
        enrolment.next_due_on = today
        enrolment.follow_ups.filter(status=FollowUpStatus.DUE).delete()
        FollowUp.objects.create(enrolment=enrolment, version=version, due_on=today)

    return _enrolment_transition(enrolment_id, EnrolmentAct.ENROL, actor=actor, apply=apply)


def decline(enrolment_id: int, *, actor, reason: str, now: datetime.datetime | None = None) -> Enrolment:
    """Record why a candidate is not enrolled (refused, not resident, diagnosis not confirmed)."""
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(_("Say why the patient is not enrolled."), field="reason")
    now = now or timezone.now()

    def apply(enrolment: Enrolment) -> None:
        enrolment.reason, enrolment.decided_at, enrolment.decided_by = reason[:300], now, _user(actor)

    return _enrolment_transition(enrolment_id, EnrolmentAct.DECLINE, actor=actor, apply=apply)


def leave_programme(enrolment_id: int, *, actor, reason: str, now: datetime.datetime | None = None) -> Enrolment:
    """An enrolled patient leaves the programme (died, moved away, diagnosis revised); the open follow-up goes."""
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(_("Say why the patient leaves the programme."), field="reason")
    now = now or timezone.now()

    def apply(enrolment: Enrolment) -> None:
        enrolment.follow_ups.filter(status=FollowUpStatus.DUE).delete()
        enrolment.reason, enrolment.decided_at, enrolment.decided_by = reason[:300], now, _user(actor)
        enrolment.next_due_on = None

    return _enrolment_transition(enrolment_id, EnrolmentAct.DISCHARGE, actor=actor, apply=apply)


# --- follow-ups ----------------------------------------------------------------------------------


def _measurements(version: ProgrammeVersion, raw: dict, encounter: Encounter | None) -> dict[str, Decimal]:
    """Parse the form's values against the version's measurements; a linked visit fills what the form left out."""
    errors: dict[str, list] = {}
    values: dict[str, Decimal] = {}
    from_visit = {}
    if encounter is not None:
        for observation in encounter.observations.all():
            vital = BY_CODE.get(observation.code)
            from_visit[vital.key if vital else observation.code] = observation.value
    for vital, required in R.measurement_defs(version.rules):
        text = raw.get(vital.key)
        if text in (None, "") and vital.key in from_visit:
            text = from_visit[vital.key]
        if text in (None, ""):
            if required:
                errors.setdefault(vital.key, []).append(_("%(name)s is needed for this follow-up.") % {"name": vital.label})
            continue
        try:
            values[vital.key] = parse_value(vital, text)
        except ValueError as error:
            errors.setdefault(vital.key, []).append(str(error))
    unknown = sorted(set(raw) - {vital.key for vital, _required in R.measurement_defs(version.rules)})
    for key in unknown:
        if raw[key] not in (None, ""):
            errors.setdefault(key, []).append(_("This programme does not record “%(key)s”.") % {"key": key})
    if errors:
        raise Invalid(next(iter(errors.values()))[0], field=next(iter(errors)), errors=errors)
    return values


def record_follow_up(
    follow_up_id: int,
    *,
    actor,
    measurements: dict,
    method: str = FollowUpMethod.CLINIC,
    done_on: datetime.date | None = None,
    note: str = "",
    encounter: Encounter | None = None,
    now: datetime.datetime | None = None,
) -> FollowUp:
    """Record a due follow-up: measurements, control, risk level, next date, and a referral proposal if a trigger fires.

    The follow-up is one thing with its visit: with ``encounter`` (a follow-up visit already
    recorded at the clinic) it links that visit and reads the measurements the form left out;
    without one it records the visit (kind follow-up, the measurements as observations) itself.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    done_on = done_on or today
    if method not in FollowUpMethod.values:
        raise Invalid(_("Choose how the follow-up was done."), field="method")
    if done_on > today:
        raise Invalid(_("A follow-up cannot be recorded for a future day."), field="done_on")
    with transaction.atomic():
        follow_up = (
            FollowUp.objects.select_for_update().select_related("enrolment__programme", "enrolment__patient").get(pk=follow_up_id)
        )
        enrolment = Enrolment.objects.select_for_update().get(pk=follow_up.enrolment_id)
        if (follow_up.status, FollowUpAct.RECORD) not in FOLLOW_UP_TRANSITIONS:
            raise _illegal(follow_up.get_status_display(), FollowUpAct.RECORD)
        if enrolment.status != EnrolmentStatus.ENROLLED or not may_follow_up(actor, enrolment):
            raise NotPermitted
        if done_on < enrolment.enrolled_on:
            raise Invalid(_("A follow-up cannot be before the enrolment."), field="done_on")
        if encounter is not None and (
            encounter.patient_id != enrolment.patient_id
            or encounter.kind != EncounterKind.FOLLOW_UP
            or FollowUp.objects.filter(encounter=encounter).exists()
        ):
            raise Invalid(_("Link a follow-up visit of this patient that no other follow-up uses."), field="encounter")
        version = current_version(enrolment.programme)
        values = _measurements(version, measurements, encounter)
        try:
            control = R.classify(version.rules, values)
        except R.RuleError as error:
            raise Invalid(next(iter(error.errors.values()))[0], field=next(iter(error.errors))) from None
        level = R.risk_level(version.rules, values)
        previous = list(
            enrolment.follow_ups.filter(status=FollowUpStatus.DONE)
            .order_by("-done_on", "-pk")
            .values_list("control", flat=True)[:6]
        )
        fired = R.trigger(version.rules, control, previous)
        if encounter is None:
            encounter = _record_visit(actor, enrolment, version, values, done_on, now)
        follow_up.version, follow_up.status = version, FollowUpStatus.DONE
        follow_up.done_on, follow_up.method, follow_up.encounter = done_on, method, encounter
        follow_up.measurements = {key: str(value) for key, value in values.items()}
        follow_up.control, follow_up.risk_level, follow_up.trigger = control, level, fired
        follow_up.note, follow_up.recorded_by, follow_up.recorded_at = note.strip()[:300], _user(actor), now
        follow_up.save()
        next_on = R.next_due(version.rules, level, control, done_on)  # a backdated follow-up may leave the next one due already
        FollowUp.objects.create(enrolment=enrolment, version=version, due_on=next_on)
        enrolment.version, enrolment.risk_level, enrolment.last_control, enrolment.next_due_on = version, level, control, next_on
        enrolment.save(update_fields=["version", "risk_level", "last_control", "next_due_on"])
        _record(
            actor=actor,
            action="follow_up_recorded",
            obj=follow_up,
            institution=enrolment.institution,
            patient_id=enrolment.patient_id,
            detail={
                "programme": enrolment.programme.code,
                "version": version.number,
                "control": control,
                "risk_level": level,
                "trigger": fired,
                "encounter_id": encounter.pk if encounter else None,
                "next_due_on": next_on.isoformat(),
            },
        )
    return follow_up


def _record_visit(actor, enrolment, version, values, done_on, now) -> Encounter:
    staff = staff_of(actor)
    institution = staff.institution if staff and staff.institution_id else enrolment.institution
    started = (
        now if done_on == timezone.localdate(now) else timezone.make_aware(datetime.datetime.combine(done_on, datetime.time(9)))
    )
    defs = {vital.key: vital for vital, _required in R.measurement_defs(version.rules)}
    observations = [observation_row(defs[key], value) for key, value in values.items()]
    for row in observations:
        row["observed_at"] = started
    try:
        return record_encounter(
            actor=actor,
            institution=institution,
            patient=enrolment.patient,
            data=EncounterInput(
                kind=EncounterKind.FOLLOW_UP,
                started_at=started,
                chief_complaint=str(_("%(programme)s follow-up") % {"programme": enrolment.programme.name}),
                attending_id=staff.pk if staff else None,
                observations=observations,
            ),
        )
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise Invalid(messages[0], field=field) from None


def mark_missed(follow_up_id: int, *, actor=None, note: str = "", now: datetime.datetime | None = None) -> FollowUp:
    """A follow-up that did not happen: marked by the team (could not reach the patient) or the nightly task."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    with transaction.atomic():
        follow_up = FollowUp.objects.select_for_update().select_related("enrolment__programme").get(pk=follow_up_id)
        enrolment = Enrolment.objects.select_for_update().get(pk=follow_up.enrolment_id)
        if (follow_up.status, FollowUpAct.MISS) not in FOLLOW_UP_TRANSITIONS:
            raise _illegal(follow_up.get_status_display(), FollowUpAct.MISS)
        if actor is not None and not may_follow_up(actor, enrolment):
            raise NotPermitted
        if follow_up.due_on > today:
            raise Invalid(_("A follow-up cannot be missed before it is due."), field="due_on")
        version = current_version(enrolment.programme)
        follow_up.status, follow_up.note, follow_up.recorded_at = FollowUpStatus.MISSED, note.strip()[:300], now
        follow_up.recorded_by = _user(actor)
        follow_up.save()
        next_on = R.after_missed(version.rules, today)
        FollowUp.objects.create(enrolment=enrolment, version=version, due_on=next_on)
        enrolment.next_due_on = next_on
        enrolment.save(update_fields=["next_due_on"])
        _record(
            actor=actor,
            action="follow_up_missed",
            obj=follow_up,
            institution=enrolment.institution,
            patient_id=enrolment.patient_id,
            detail={
                "programme": enrolment.programme.code,
                "due_on": follow_up.due_on.isoformat(),
                "next_due_on": next_on.isoformat(),
            },
        )
    return follow_up


def mark_missed_follow_ups(now: datetime.datetime | None = None) -> int:
    """The nightly sweep: follow-ups still due two weeks after their date are missed and offered again."""
    now = now or timezone.now()
    cutoff = timezone.localdate(now) - datetime.timedelta(days=MISSED_AFTER_DAYS)
    ids = list(
        FollowUp.objects.filter(status=FollowUpStatus.DUE, due_on__lt=cutoff, enrolment__status=EnrolmentStatus.ENROLLED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for follow_up_id in ids:
        mark_missed(follow_up_id, note=str(_("Not done within two weeks of its date.")), now=now)
    return len(ids)


def note_referral_proposed(follow_up_id: int, *, actor) -> FollowUp:
    """The doctor opened the proposed referral: remembered, so that the indicator counts triggered referrals."""
    with transaction.atomic():
        follow_up = FollowUp.objects.select_for_update().select_related("enrolment").get(pk=follow_up_id)
        if not follow_up.trigger:
            raise Invalid(_("No trigger fired at this follow-up."), field="trigger")
        if not may_follow_up(actor, follow_up.enrolment):
            raise NotPermitted
        if not follow_up.referral_proposed:
            follow_up.referral_proposed = True
            follow_up.save(update_fields=["referral_proposed"])
            record_audit_event(
                actor=actor,
                action=ChronicAudit.REFERRAL_PROPOSED,
                obj=follow_up,
                institution=follow_up.enrolment.institution,
                detail={"trigger": follow_up.trigger, "encounter_id": follow_up.encounter_id},
            )
    return follow_up


# --- back down the chain -------------------------------------------------------------------------


def return_from_hospital(
    *, patient_id: int, referral_id: int, hospital_id: int | None, clinic_id: int | None, now: datetime.datetime | None = None
) -> list[Enrolment]:
    """A hospital discharged the patient down the chain: enrolled plans come back with the medication and a visit soon.

    Called for each discharge event of the outbox (see ``tasks.return_discharged_patients``), once per
    referral: the enrolment remembers the referral it came back by. The changed medication is the
    prescriptions of the patient's last visit at the hospital; the next follow-up is due within two
    weeks. A patient on no programme whose diagnoses match one becomes a candidate at the receiving clinic.
    """
    now = now or timezone.now()
    soon = timezone.localdate(now) + datetime.timedelta(days=AFTER_DISCHARGE_DAYS)
    changed = []
    with transaction.atomic():
        last_visit = (
            Encounter.objects.filter(patient_id=patient_id, institution_id=hospital_id).order_by("-started_at", "-pk").first()
            if hospital_id
            else None
        )
        medication = (
            "\n".join(
                " ".join(part for part in (p.drug_name, p.dose, p.frequency) if part) for p in last_visit.prescriptions.all()
            )
            if last_visit
            else ""
        )
        enrolments = Enrolment.objects.select_for_update().filter(patient_id=patient_id, status=EnrolmentStatus.ENROLLED)
        for enrolment in enrolments.exclude(returned_from_referral=referral_id):
            enrolment.returned_at, enrolment.returned_from_referral = now, referral_id
            if medication:
                enrolment.medication_plan = medication
            due = enrolment.follow_ups.select_for_update().filter(status=FollowUpStatus.DUE).first()
            if due is None:
                due = FollowUp(enrolment=enrolment, version=enrolment.version, due_on=soon)
            due.due_on = min(due.due_on, soon)
            due.save()
            enrolment.next_due_on = due.due_on
            enrolment.save(update_fields=["returned_at", "returned_from_referral", "medication_plan", "next_due_on"])
            _record(
                actor=None,
                action="returned_from_hospital",
                obj=enrolment,
                institution=enrolment.institution,
                patient_id=patient_id,
                detail={
                    "referral_id": referral_id,
                    "next_due_on": due.due_on.isoformat(),
                    "medication_changed": bool(medication),
                },
            )
            changed.append(enrolment)
        if clinic_id and not Enrolment.objects.filter(patient_id=patient_id).exists():
            from .screening import candidates_for_patient

            changed.extend(candidates_for_patient(patient_id, clinic_id, source=EnrolmentSource.DISCHARGE, now=now))
    return changed


# --- family-doctor teams and contracts -----------------------------------------------------------


def create_team(*, actor, institution: Institution, name: str, members: list[tuple[Staff, str]]) -> Team:
    require(actor, Action.MANAGE_CHRONIC, institution)
    name = (name or "").strip()
    if not name:
        raise Invalid(_("Give the team a name."), field="name")
    if not members:
        raise Invalid(_("A team has at least one member."), field="members")
    for staff, role in members:
        if role not in TeamRole.values:
            raise Invalid(_("Choose a team role for each member."), field="members")
        if staff.institution_id is None or (
            staff.institution_id != institution.pk and staff.institution.parent_id != institution.pk
        ):
            raise Invalid(_("Team members work at the institution or at a village clinic it supervises."), field="members")
    with transaction.atomic():
        if Team.objects.filter(institution=institution, name=name).exists():
            raise Invalid(_("This institution has a team of this name already."), field="name")
        team = Team.objects.create(institution=institution, name=name)
        TeamMember.objects.bulk_create(TeamMember(team=team, staff=staff, role=role) for staff, role in members)
        record_audit_event(
            actor=actor, action=ChronicAudit.TEAM_CREATED, obj=team, institution=institution, detail={"members": len(members)}
        )
    return team


def _validate_contract_dates(starts_on, ends_on) -> None:
    if not isinstance(starts_on, datetime.date):
        raise Invalid(_("Enter the start date."), field="starts_on")
    if not isinstance(ends_on, datetime.date) or ends_on <= starts_on:
        raise Invalid(_("The contract ends after it starts."), field="ends_on")
    if (ends_on - starts_on).days > 366 * MAX_CONTRACT_YEARS:
        raise Invalid(_("A contract runs for at most %(years)d years.") % {"years": MAX_CONTRACT_YEARS}, field="ends_on")


def sign_contract(
    *,
    actor,
    team: Team,
    holder: Patient,
    package: str,
    starts_on: datetime.date,
    ends_on: datetime.date,
    signature_method: str,
    household: list[Patient] = (),
    now: datetime.datetime | None = None,
) -> Contract:
    """A resident (or a household, signed by one of them) contracts a team for a service package."""
    now = now or timezone.now()
    if not (may_manage(actor, team.institution_id) or is_team_member(actor, team.pk)):
        raise NotPermitted
    if not team.is_active:
        raise Invalid(_("Choose an active team."), field="team")
    if package not in ServicePackage.values:
        raise Invalid(_("Choose a service package."), field="package")
    if signature_method not in SignatureMethod.values:
        raise Invalid(_("Record how the resident signed."), field="signature_method")
    _validate_contract_dates(starts_on, ends_on)
    people = [holder, *[p for p in household if p.pk != holder.pk]]
    catchment = {team.institution_id, *Institution.objects.filter(parent_id=team.institution_id).values_list("pk", flat=True)}
    for person in people:
        if person.home_institution_id not in catchment:
            raise Invalid(_("A team contracts residents registered at its institution or its village clinics."), field="holder")
    with transaction.atomic():
        overlapping = Contract.objects.filter(
            members__in=[p.pk for p in people], status=ContractStatus.SIGNED, starts_on__lt=ends_on, ends_on__gt=starts_on
        )
        if overlapping.exists():
            raise Invalid(_("One of these residents already has a contract for these dates."), field="holder")
        contract = Contract.objects.create(
            team=team,
            holder=holder,
            kind=ContractKind.HOUSEHOLD if len(people) > 1 else ContractKind.RESIDENT,
            package=package,
            starts_on=starts_on,
            ends_on=ends_on,
            signature_method=signature_method,
            signed_at=now,
            signed_by_staff=_user(actor),
        )
        contract.members.set(people)
        _record(
            actor=actor,
            action="contract_signed",
            obj=contract,
            institution=team.institution,
            patient_id=holder.pk,
            detail={
                "package": package,
                "members": len(people),
                "starts_on": starts_on.isoformat(),
                "ends_on": ends_on.isoformat(),
            },
        )
    return contract


def _contract_transition(contract_id: int, act: ContractAct, *, actor, apply, detail: dict) -> Contract:
    with transaction.atomic():
        contract = Contract.objects.select_for_update().select_related("team__institution").get(pk=contract_id)
        target = CONTRACT_TRANSITIONS.get((contract.status, act))
        if target is None:
            raise _illegal(contract.get_status_display(), act)
        if not (may_manage(actor, contract.team.institution_id) or is_team_member(actor, contract.team_id)):
            raise NotPermitted
        source = contract.status
        contract.status = target
        apply(contract)
        contract.save()
        _record(
            actor=actor,
            action=f"contract_{act}",
            obj=contract,
            institution=contract.team.institution,
            patient_id=contract.holder_id,
            detail={"from_status": source, "to_status": target, **detail},
        )
    return contract


def renew_contract(
    contract_id: int, *, actor, ends_on: datetime.date, signature_method: str, now: datetime.datetime | None = None
) -> Contract:
    """Renew: the old contract is marked renewed and a new signed one starts the day it ends."""
    now = now or timezone.now()
    if signature_method not in SignatureMethod.values:
        raise Invalid(_("Record how the resident signed."), field="signature_method")
    renewal: list[Contract] = []

    def apply(contract: Contract) -> None:
        _validate_contract_dates(contract.ends_on, ends_on)
        successor = Contract.objects.create(
            team=contract.team,
            holder=contract.holder,
            kind=contract.kind,
            package=contract.package,
            starts_on=contract.ends_on,
            ends_on=ends_on,
            signature_method=signature_method,
            signed_at=now,
            signed_by_staff=_user(actor),
            renewed_from=contract,
        )
        successor.members.set(contract.members.all())
        renewal.append(successor)

    _contract_transition(contract_id, ContractAct.RENEW, actor=actor, apply=apply, detail={"ends_on": ends_on.isoformat()})
    return renewal[0]


def end_contract(contract_id: int, *, actor, reason: str) -> Contract:
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(_("Say why the contract ends."), field="reason")

    def apply(contract: Contract) -> None:
        contract.ended_reason = reason[:200]

    return _contract_transition(contract_id, ContractAct.END, actor=actor, apply=apply, detail={})
