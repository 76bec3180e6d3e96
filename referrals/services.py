"""Writes of referrals: one function per transition of the table in :mod:`referrals.transitions`.

Each function locks the referral (``select_for_update``), checks the actor's role and
institution through :mod:`consortium.permissions`, validates, writes the new state, a
timeline event, an audit event, an outbox event and the notifications, all in one
transaction.  An illegal transition raises :class:`IllegalTransition`.
"""

import datetime
import json
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from consortium import errors
from consortium.models import Department, Institution, Membership, StaffRole
from consortium.permissions import Action, Relation, can, institution_ids_for, relation_to, require, staff_of
from consortium.services import record_audit_event, record_outbox_event
from records import icd10
from records.access import can_read_patient
from records.models import Encounter, Patient

from . import selectors
from .attachments import MAX_FILES, inspect_upload
from .audit import ReferralAudit
from .models import (
    ATTACHABLE,
    Direction,
    FollowUpKind,
    FollowUpStatus,
    FollowUpTask,
    Notification,
    Referral,
    ReferralAttachment,
    ReferralDueTimePolicy,
    ReferralEvent,
    ReferralSlot,
    ReferralStatus,
    SatisfactionRating,
    Urgency,
)
from .snapshot import clinical_summary_snapshot
from .transitions import ACTION_LABELS, TRANSITIONS, Act, Side


class ReferralError(errors.Invalid):
    """A referral rule was broken; ``field`` names the input at fault, if any."""


class IllegalTransition(errors.IllegalTransition, ReferralError):
    """The referral's table has no such move from its status (or the object is past it)."""


class SlotUnavailable(errors.Conflict, ReferralError):
    """The chosen appointment slot is full, closed or in the past."""

    code = "slot_unavailable"


# --- helpers -------------------------------------------------------------------------------------


def _side_permission(referral: Referral, side: Side) -> tuple[Action, int]:
    if side == Side.SENDER:
        return Action.START_REFERRAL, referral.from_institution_id
    action = Action.TRIAGE_REFERRAL if referral.direction == Direction.UP else Action.RECORD_FOLLOW_UP
    return action, referral.to_institution_id


def _check_side(actor, referral: Referral, side: Side) -> None:
    if side == Side.SYSTEM:
        if actor is not None:
            raise PermissionDenied
        return
    action, institution_id = _side_permission(referral, side)
    require(actor, action, institution_id)


def may_take(actor, referral: Referral, act: Act) -> bool:
    """Whether the table allows ``act`` from the referral's status and the actor stands on the right side."""
    transition = TRANSITIONS.get((referral.status, act))
    if transition is None or transition.side == Side.SYSTEM:
        return False
    action, institution_id = _side_permission(referral, transition.side)
    return can(actor, action, institution_id)


def _payload(referral: Referral) -> dict:
    """What other systems learn about a referral: no names, resident IDs or phones."""
    return {
        "referral_id": referral.pk,
        "direction": referral.direction,
        "status": referral.status,
        "urgency": referral.urgency,
        "from_institution": referral.from_institution.code,
        "to_institution": referral.to_institution.code,
        "to_department": referral.to_department.code if referral.to_department_id else None,
        "due_at": referral.due_at.isoformat() if referral.due_at else None,
        "appointment_at": referral.appointment_at.isoformat() if referral.appointment_at else None,
        "redirected_from": referral.redirected_from_id,
        "upward_referral": referral.upward_referral_id,
    }


def _record(referral: Referral, *, actor, source: str, action: str, note: str, now, event_type: str = "referral") -> None:
    ReferralEvent.objects.create(
        referral=referral,
        occurred_at=now,
        actor=actor if getattr(actor, "pk", None) else None,
        from_status=source,
        to_status=referral.status,
        action=action,
        note=note,
    )
    record_audit_event(
        actor=actor,
        action=ReferralAudit(f"referral.{action}"),
        obj=referral,
        institution=referral.to_institution if action != Act.SUBMIT else referral.from_institution,
        detail={"from_status": source, "to_status": referral.status},
    )
    record_outbox_event(
        event_type=event_type,
        obj=referral,
        patient_id=referral.patient_id,
        institution=referral.from_institution,
        payload=_payload(referral),
    )


def _send_emails(notification_ids: list[int]) -> None:
    rows = Notification.objects.filter(pk__in=notification_ids).select_related("recipient")
    messages = [
        EmailMessage(
            subject=row.text[:78],
            body=f"{row.text}\n\n{row.link}",
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[row.recipient.email],
        )
        for row in rows
        if row.recipient.email
    ]
    if messages:
        get_connection(fail_silently=True).send_messages(messages)


def notify(users: Iterable, text: str, *, referral: Referral | None = None, link: str = "") -> list[Notification]:
    """Create in-app notifications and email them once the transaction commits.

    The text is rendered in the platform's default language and must not name the patient.
    """
    if referral is not None and not link:
        link = reverse("referrals:detail", args=[referral.pk])
    seen, rows = set(), []
    for user in users:
        if user is None or user.pk in seen:
            continue
        seen.add(user.pk)
        rows.append(Notification(recipient=user, referral=referral, text=str(text)[:300], link=link))
    created = Notification.objects.bulk_create(rows)
    ids = [row.pk for row in created if row.pk]
    if ids:
        transaction.on_commit(lambda: _send_emails(ids))
    return created


def _in_default_language(build: Callable[[], str]) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return build()


def _notify_receivers(referral: Referral, build: Callable[[], str]) -> None:
    users = selectors.users_with_role(referral.to_institution_id, selectors.receiving_roles(referral.direction))
    notify(users, _in_default_language(build), referral=referral)


def _notify_sender(referral: Referral, build: Callable[[], str]) -> None:
    users = [referral.created_by] if referral.created_by_id else []
    if not users:
        users = selectors.users_with_role(
            referral.from_institution_id, (StaffRole.CLINIC_CLINICIAN, StaffRole.REFERRAL_COORDINATOR)
        )
    notify(users, _in_default_language(build), referral=referral)


def _transition(
    referral_id: int,
    act: Act,
    *,
    actor,
    note: str = "",
    now: datetime.datetime | None = None,
    apply: Callable[[Referral], None] | None = None,
    event_type: str = "referral",
    notify: Callable[[Referral], None] | None = None,
) -> Referral:
    """Take ``act``: lock, look it up in the table, check the side, ``apply``, save, record, ``notify``.

    ``notify`` writes the notification rows inside the same transaction (their e-mails go on commit),
    so a referral never changes without its notifications, nor the reverse.
    """
    now = now or timezone.now()
    with transaction.atomic():
        referral = Referral.objects.select_for_update().get(pk=referral_id)
        transition = TRANSITIONS.get((referral.status, act))
        if transition is None:
            raise IllegalTransition(
                _("A referral that is “%(status)s” cannot be taken through “%(action)s”.")
                % {"status": referral.get_status_display(), "action": ACTION_LABELS[act]}
            )
        _check_side(actor, referral, transition.side)
        source = referral.status
        if apply is not None:
            apply(referral)
        referral.status = transition.target
        referral.save()
        _record(referral, actor=actor, source=source, action=act, note=note, now=now, event_type=event_type)
        if notify is not None:
            notify(referral)
    return referral


def _required(text: str, field: str, message) -> str:
    text = (text or "").strip()
    if not text:
        raise ReferralError(message, field=field)
    return text


# --- creating and submitting an upward referral ----------------------------------------------------


def create_referral(
    *,
    actor,
    patient: Patient,
    to_department: Department,
    urgency: str,
    reason: str,
    source_encounter: Encounter | None = None,
    attachments: Iterable = (),
    submit: bool = True,
    now: datetime.datetime | None = None,
) -> Referral:
    """Start an upward referral from the actor's institution, with the clinical snapshot; submit it unless a draft."""
    now = now or timezone.now()
    staff = staff_of(actor)
    if staff is None or staff.institution is None:
        raise PermissionDenied
    origin = staff.institution
    require(actor, Action.START_REFERRAL, origin)
    reason = _required(reason, "reason", gettext_lazy("Give the reason for the referral."))
    if urgency not in Urgency.values:
        raise ReferralError(gettext_lazy("Choose a valid urgency."), field="urgency")
    if source_encounter is not None and (
        source_encounter.patient_id != patient.pk or source_encounter.institution_id != origin.pk
    ):
        raise ReferralError(gettext_lazy("The visit must be this patient's visit at your institution."), field="source_encounter")
    sender_reads = can_read_patient(actor, patient)
    if source_encounter is None and not sender_reads:
        raise PermissionDenied
    target = to_department.institution
    if not to_department.accepts_referrals or not target.is_active:
        raise ReferralError(gettext_lazy("This department does not accept referrals."), field="to_department")
    if relation_to(staff, target) != Relation.PEER or target.level_rank <= origin.level_rank:
        raise ReferralError(
            gettext_lazy("An upward referral goes to a higher-level member institution of your consortium."),
            field="to_department",
        )
    files = list(attachments)
    if len(files) > MAX_FILES:
        raise ReferralError(
            gettext_lazy("At most %(count)d attachments per referral.") % {"count": MAX_FILES}, field="attachments"
        )
    inspected = []
    for upload in files:
        try:
            inspected.append((upload, inspect_upload(upload)))
        except ValidationError as error:
            raise ReferralError(error.messages[0], field="attachments") from None
    with transaction.atomic():
        referral = Referral.objects.create(
            patient=patient,
            direction=Direction.UP,
            from_institution=origin,
            from_department=staff.department,
            to_institution=target,
            to_department=to_department,
            source_encounter=source_encounter,
            urgency=urgency,
            reason=reason,
            clinical_summary=clinical_summary_snapshot(patient, visits_of=sender_reads.visits_of if sender_reads else origin.pk),
            status=ReferralStatus.DRAFT,
            created_by=actor,
            created_at=now,
        )
        for upload, facts in inspected:
            attachment = ReferralAttachment(referral=referral, original_name=upload.name[:200], uploaded_by=actor, **facts)
            attachment.file.save(upload.name, upload, save=False)
            attachment.save()
        _record(referral, actor=actor, source="", action="create", note="", now=now)
        if submit:
            referral = submit_referral(referral.pk, actor=actor, now=now)
    return referral


def add_attachment(referral_id: int, *, actor, upload) -> ReferralAttachment:
    """Attach a PDF or image to a referral that the sender has not seen decided yet."""
    try:
        facts = inspect_upload(upload)
    except ValidationError as error:
        raise ReferralError(error.messages[0], field="file") from None
    with transaction.atomic():
        referral = Referral.objects.select_for_update().get(pk=referral_id)
        require(actor, Action.START_REFERRAL, referral.from_institution_id)
        if referral.status not in ATTACHABLE:
            raise IllegalTransition(gettext_lazy("Attachments can be added only before the decision."))
        if referral.attachments.count() >= MAX_FILES:
            raise ReferralError(gettext_lazy("At most %(count)d attachments per referral.") % {"count": MAX_FILES}, field="file")
        attachment = ReferralAttachment(referral=referral, original_name=upload.name[:200], uploaded_by=actor, **facts)
        attachment.file.save(upload.name, upload, save=False)
        attachment.save()
        record_audit_event(
            actor=actor,
            action=ReferralAudit.ATTACHMENT_ADDED,
            obj=referral,
            institution=referral.from_institution,
            detail={"attachment": attachment.pk, "content_type": attachment.content_type, "size": attachment.size},
        )
    return attachment


def submit_referral(referral_id: int, *, actor, now: datetime.datetime | None = None) -> Referral:
    now = now or timezone.now()

    def apply(referral: Referral) -> None:
        policy = selectors.due_time_policy_for(referral.from_institution_id, referral.to_institution_id)
        referral.submitted_at = now
        referral.due_at = now + policy.due_delta(referral.urgency)
        referral.escalation_level = 0

    def notify(referral: Referral) -> None:
        _notify_receivers(
            referral,
            lambda: (
                _("New %(urgency)s referral #%(id)d from %(origin)s awaits a decision.")
                % {"urgency": referral.get_urgency_display(), "id": referral.pk, "origin": referral.from_institution.name}
            ),
        )

    return _transition(referral_id, Act.SUBMIT, actor=actor, now=now, apply=apply, notify=notify)


def cancel_referral(referral_id: int, *, actor, note: str = "", now: datetime.datetime | None = None) -> Referral:
    def notify(referral: Referral) -> None:
        if referral.submitted_at:
            _notify_receivers(referral, lambda: _("Referral #%(id)d was cancelled by the sender.") % {"id": referral.pk})

    return _transition(referral_id, Act.CANCEL, actor=actor, note=note, now=now, notify=notify)


def start_review(referral_id: int, *, actor, note: str = "", now: datetime.datetime | None = None) -> Referral:
    return _transition(referral_id, Act.REVIEW, actor=actor, note=note, now=now)


# --- decisions -----------------------------------------------------------------------------------


def accept_referral(
    referral_id: int,
    *,
    actor,
    slot_id: int | None = None,
    appointment_at: datetime.datetime | None = None,
    outside_schedule_reason: str = "",
    note: str = "",
    now: datetime.datetime | None = None,
) -> Referral:
    """Accept, booking one place of a capacity slot (upward) or with an optional appointment (downward).

    The slot is booked with a conditional UPDATE (``booked < capacity``), so two coordinators
    accepting the last place at once cannot both succeed. An upward referral may instead get an
    appointment time outside the schedule, with the reason; it is recorded as such.
    """
    now = now or timezone.now()
    outside_schedule_reason = (outside_schedule_reason or "").strip()

    def apply(referral: Referral) -> None:
        if referral.direction == Direction.UP and slot_id is None:
            if appointment_at is None:
                raise ReferralError(
                    gettext_lazy("Choose a slot, or give an appointment time outside the schedule with its reason."),
                    field="slot",
                )
            if appointment_at <= now:
                raise ReferralError(gettext_lazy("The appointment is in the future."), field="appointment_at")
            if not outside_schedule_reason:
                raise ReferralError(
                    gettext_lazy("Say why the appointment is outside the schedule."), field="outside_schedule_reason"
                )
            referral.appointment_at = appointment_at
            referral.outside_schedule_reason = outside_schedule_reason[:500]
        elif slot_id is not None:
            slot = ReferralSlot.objects.select_related("department").filter(pk=slot_id).first()
            if slot is None or slot.department.institution_id != referral.to_institution_id:
                raise ReferralError(gettext_lazy("Choose a slot of your own institution."), field="slot")
            if slot.starts_at < now:
                raise ReferralError(gettext_lazy("This slot has already started."), field="slot")
            booked = ReferralSlot.objects.filter(pk=slot.pk, booked__lt=F("capacity")).update(booked=F("booked") + 1)
            if booked != 1:
                raise SlotUnavailable(gettext_lazy("This slot is fully booked; choose another one."), field="slot")
            referral.slot = slot
            referral.to_department = slot.department
            referral.appointment_at = slot.starts_at
        else:
            referral.appointment_at = appointment_at
        referral.decided_at = now
        referral.decision_reason = note

    def notify(referral: Referral) -> None:
        _notify_sender(
            referral,
            lambda: (
                _("Referral #%(id)d was accepted by %(target)s; appointment %(when)s.")
                % {
                    "id": referral.pk,
                    "target": referral.to_institution.name,
                    "when": timezone.localtime(referral.appointment_at).strftime("%Y-%m-%d %H:%M")
                    if referral.appointment_at
                    else "—",
                }
            ),
        )

    return _transition(referral_id, Act.ACCEPT, actor=actor, note=note, now=now, apply=apply, notify=notify)


def reject_referral(referral_id: int, *, actor, reason: str, now: datetime.datetime | None = None) -> Referral:
    now = now or timezone.now()
    reason = _required(reason, "reason", gettext_lazy("Give the reason for rejecting the referral."))

    def apply(referral: Referral) -> None:
        referral.decision_reason = reason
        referral.decided_at = now

    def notify(referral: Referral) -> None:
        _notify_sender(
            referral,
            lambda: (
                _("Referral #%(id)d was rejected by %(target)s: %(reason)s")
                % {"id": referral.pk, "target": referral.to_institution.name, "reason": reason[:120]}
            ),
        )

    return _transition(referral_id, Act.REJECT, actor=actor, note=reason, now=now, apply=apply, notify=notify)


def redirect_referral(
    referral_id: int, *, actor, to_department: Department, reason: str, now: datetime.datetime | None = None
) -> Referral:
    """Close this referral as redirected and open a new one, submitted to the other department or institution."""
    now = now or timezone.now()
    reason = _required(reason, "reason", gettext_lazy("Give the reason for redirecting the referral."))
    created: list[Referral] = []

    def apply(referral: Referral) -> None:
        target = to_department.institution
        if to_department.pk == referral.to_department_id:
            raise ReferralError(gettext_lazy("Choose another department than the current one."), field="to_department")
        if not to_department.accepts_referrals or not target.is_active:
            raise ReferralError(gettext_lazy("This department does not accept referrals."), field="to_department")
        if target.pk == referral.from_institution_id or not _shares_consortium(referral.from_institution_id, target.pk):
            raise ReferralError(
                gettext_lazy("Redirect only to another member institution of the sender's consortium."), field="to_department"
            )
        referral.decision_reason = reason
        referral.decided_at = now
        policy = selectors.due_time_policy_for(referral.from_institution_id, target.pk)
        successor = Referral.objects.create(
            patient_id=referral.patient_id,
            direction=referral.direction,
            from_institution_id=referral.from_institution_id,
            from_department_id=referral.from_department_id,
            to_institution=target,
            to_department=to_department,
            source_encounter_id=referral.source_encounter_id,
            urgency=referral.urgency,
            reason=referral.reason,
            clinical_summary=referral.clinical_summary,
            status=ReferralStatus.SUBMITTED,
            created_by_id=referral.created_by_id,
            created_at=now,
            submitted_at=now,
            due_at=now + policy.due_delta(referral.urgency),
            redirected_from=referral,
            upward_referral_id=referral.upward_referral_id,
        )
        for attachment in referral.attachments.all():
            attachment.pk = None
            attachment.referral = successor
            attachment.save()
        created.append(successor)

    with transaction.atomic():
        referral = _transition(referral_id, Act.REDIRECT, actor=actor, note=reason, now=now, apply=apply)
        successor = created[0]
        _record(successor, actor=actor, source="", action=Act.REDIRECT, note=reason, now=now)
        _notify_sender(
            referral,
            lambda: (
                _("Referral #%(id)d was redirected to %(target)s as #%(new)d: %(reason)s")
                % {"id": referral.pk, "target": str(to_department), "new": successor.pk, "reason": reason[:120]}
            ),
        )
        _notify_receivers(
            successor,
            lambda: (
                _("Referral #%(id)d, redirected from %(origin)s, awaits a decision.")
                % {"id": successor.pk, "origin": referral.to_institution.name}
            ),
        )
    return referral


def _shares_consortium(first_id: int, second_id: int) -> bool:
    return Membership.objects.co_members_of(first_id).filter(institution_id=second_id).exists()


# --- the patient's stay --------------------------------------------------------------------------


def record_arrival(referral_id: int, *, actor, note: str = "", now: datetime.datetime | None = None) -> Referral:
    return _transition(referral_id, Act.ARRIVE, actor=actor, note=note, now=now)


def start_treatment(referral_id: int, *, actor, note: str = "", now: datetime.datetime | None = None) -> Referral:
    return _transition(referral_id, Act.START_TREATMENT, actor=actor, note=note, now=now)


def complete_referral(
    referral_id: int, *, actor, note: str = "", now: datetime.datetime | None = None, event_type: str = "referral"
) -> Referral:
    def notify(referral: Referral) -> None:
        _notify_sender(referral, lambda: _("Referral #%(id)d is completed.") % {"id": referral.pk})

    return _transition(referral_id, Act.COMPLETE, actor=actor, note=note, now=now, event_type=event_type, notify=notify)


#: The transitions the pages and the API take by name, each from the input its form gives.
_TAKERS = {
    Act.SUBMIT: lambda pk, actor, data: submit_referral(pk, actor=actor),
    Act.CANCEL: lambda pk, actor, data: cancel_referral(pk, actor=actor, note=data["note"]),
    Act.REVIEW: lambda pk, actor, data: start_review(pk, actor=actor, note=data["note"]),
    Act.ACCEPT: lambda pk, actor, data: accept_referral(
        pk,
        actor=actor,
        slot_id=data.get("slot_id"),
        appointment_at=data.get("appointment_at"),
        outside_schedule_reason=data.get("outside_schedule_reason", ""),
        note=data["note"],
    ),
    Act.REJECT: lambda pk, actor, data: reject_referral(pk, actor=actor, reason=data["reason"]),
    Act.REDIRECT: lambda pk, actor, data: redirect_referral(
        pk, actor=actor, to_department=data["to_department"], reason=data["reason"]
    ),
    Act.ARRIVE: lambda pk, actor, data: record_arrival(pk, actor=actor, note=data["note"]),
    Act.START_TREATMENT: lambda pk, actor, data: start_treatment(pk, actor=actor, note=data["note"]),
    Act.COMPLETE: lambda pk, actor, data: complete_referral(pk, actor=actor, note=data["note"]),
}


def take(act: Act, referral_id: int, *, actor, data: dict) -> Referral:
    """Take the transition ``act`` with its form's input (``note``, ``reason``, ``slot_id``, ...)."""
    return _TAKERS[act](referral_id, actor, data)


def discharge_with_downward_referral(
    referral_id: int,
    *,
    actor,
    discharge_summary: str,
    tasks: list[dict],
    to_institution: Institution | None = None,
    urgency: str = Urgency.ROUTINE,
    discharge: dict | None = None,
    now: datetime.datetime | None = None,
) -> Referral:
    """Complete an upward referral at discharge and send the patient down with a follow-up plan.

    ``tasks`` is a list of ``{"kind", "due_on", "instructions"}``; the downward referral goes
    to the clinic that sent the patient unless ``to_institution`` names another primary member.
    ``discharge`` is the structured discharge data: ``diagnoses`` (``{"code"}``, ICD-10, at least
    one), ``medicines`` (``{"drug_name", "dose", "frequency", "days", "drug_code"}``),
    ``instructions``, ``admitted_on`` and ``discharged_on``; the downward referral's clinical
    summary carries those diagnoses and medicines, not the clinic's original snapshot.
    """
    now = now or timezone.now()
    discharge_summary = _required(discharge_summary, "discharge_summary", gettext_lazy("Write the discharge summary."))
    structured = _discharge_data(discharge, now) if discharge is not None else {}
    if not tasks:
        raise ReferralError(gettext_lazy("Plan at least one follow-up task."), field="tasks")
    for task in tasks:
        if task.get("kind") not in FollowUpKind.values:
            raise ReferralError(gettext_lazy("Choose a valid follow-up kind."), field="tasks")
        if not isinstance(task.get("due_on"), datetime.date) or task["due_on"] < timezone.localdate(now):
            raise ReferralError(gettext_lazy("A follow-up is due today or later."), field="tasks")
    with transaction.atomic():
        upward = complete_referral(referral_id, actor=actor, note=discharge_summary, now=now)
        if upward.direction != Direction.UP:
            raise IllegalTransition(gettext_lazy("Only an upward referral ends with a discharge back to the clinic."))
        target = to_institution or upward.from_institution
        if not target.is_primary or not _shares_consortium(upward.to_institution_id, target.pk):
            raise ReferralError(
                gettext_lazy("A downward referral goes to a township or village member clinic."), field="to_institution"
            )
        policy = selectors.due_time_policy_for(upward.to_institution_id, target.pk)
        snapshot = clinical_summary_snapshot(upward.patient)
        if structured:
            structured.setdefault("admitted_on", admitted_on(upward))
            if structured["admitted_on"] and structured["admitted_on"] > structured["discharged_on"]:
                raise ReferralError(gettext_lazy("The patient was admitted before the discharge."), field="admitted_on")
            structured = json.loads(json.dumps(structured, cls=DjangoJSONEncoder))
            snapshot["diagnoses"] = [{**d, "date": structured["discharged_on"]} for d in structured["diagnoses"]]
            snapshot["medications"] = [
                {"drug": m["drug_name"], "dose": m["dose"], "frequency": m["frequency"], "days": m["days"]}
                for m in structured["medicines"]
            ]
        downward = Referral.objects.create(
            patient_id=upward.patient_id,
            direction=Direction.DOWN,
            from_institution=upward.to_institution,
            from_department=upward.to_department,
            to_institution=target,
            urgency=urgency,
            reason=discharge_summary,
            discharge_summary=discharge_summary,
            discharge_data=structured,
            clinical_summary=snapshot,
            status=ReferralStatus.SUBMITTED,
            created_by=actor,
            created_at=now,
            submitted_at=now,
            due_at=now + policy.due_delta(urgency),
            upward_referral=upward,
        )
        FollowUpTask.objects.bulk_create(
            FollowUpTask(referral=downward, kind=t["kind"], due_on=t["due_on"], instructions=(t.get("instructions") or "")[:300])
            for t in tasks
        )
        _record(downward, actor=actor, source="", action="discharge", note="", now=now, event_type="discharge")
        _notify_receivers(
            downward,
            lambda: (
                _("Patient of referral #%(id)d discharged from %(origin)s with %(count)d follow-up tasks.")
                % {"id": downward.pk, "origin": upward.to_institution.name, "count": len(tasks)}
            ),
        )
    return downward


def _discharge_data(discharge: dict, now: datetime.datetime) -> dict:
    """Check the structured discharge data; a broken rule names its field (diagnoses, medicines, dates)."""
    diagnoses = []
    for row in discharge.get("diagnoses") or []:
        try:
            code = icd10.check_code(row.get("code", ""))
        except errors.Invalid as error:
            raise ReferralError(error.message, field="diagnoses") from None
        diagnoses.append({"code": code.code, "description": code.name_zh})
    if not diagnoses:
        raise ReferralError(gettext_lazy("Give at least one discharge diagnosis."), field="diagnoses")
    medicines = []
    for row in discharge.get("medicines") or []:
        name = (row.get("drug_name") or "").strip()
        if not name:
            raise ReferralError(gettext_lazy("Name the drug of each discharge medicine."), field="medicines")
        days = row.get("days")
        if days is not None and (not isinstance(days, int) or not 1 <= days <= 365):
            raise ReferralError(gettext_lazy("Days are a whole number from 1 to 365."), field="medicines")
        medicines.append(
            {
                "drug_code": (row.get("drug_code") or "").strip()[:32],
                "drug_name": name[:200],
                "dose": (row.get("dose") or "").strip()[:64],
                "frequency": (row.get("frequency") or "").strip()[:64],
                "days": days,
            }
        )
    discharged_on = discharge.get("discharged_on") or timezone.localdate(now)
    if discharged_on > timezone.localdate(now):
        raise ReferralError(gettext_lazy("The discharge date is not in the future."), field="discharged_on")
    data = {
        "diagnoses": diagnoses,
        "medicines": medicines,
        "instructions": (discharge.get("instructions") or "").strip()[:4000],
        "discharged_on": discharged_on,
    }
    if discharge.get("admitted_on"):
        data["admitted_on"] = discharge["admitted_on"]
    return data


def admitted_on(upward: Referral) -> datetime.date | None:
    """The day the patient arrived for the upward referral (or the appointment's day)."""
    arrival = upward.events.filter(to_status=ReferralStatus.ARRIVED).order_by("occurred_at").first()
    moment = arrival.occurred_at if arrival else upward.appointment_at
    return timezone.localdate(moment) if moment else None


def receive_downward_referral(referral_id: int, *, actor, note: str = "", now: datetime.datetime | None = None) -> Referral:
    """The patient's own clinic receives a downward referral in one step: accepted and home (arrived).

    Only for a downward referral to the patient's home institution; both steps are recorded on the
    referral's timeline in one transaction.
    """
    now = now or timezone.now()
    with transaction.atomic():
        referral = Referral.objects.select_for_update().select_related("patient").get(pk=referral_id)
        if referral.direction != Direction.DOWN or referral.patient.home_institution_id != referral.to_institution_id:
            raise IllegalTransition(gettext_lazy("Only a downward referral to the patient's own clinic is received in one step."))
        accept_referral(referral_id, actor=actor, note=note, now=now)
        return record_arrival(referral_id, actor=actor, note=note, now=now)


def may_receive(user, referral: Referral) -> bool:
    """Whether ``user`` may receive the downward referral in one step (see :func:`receive_downward_referral`)."""
    return (
        referral.direction == Direction.DOWN
        and referral.status in (ReferralStatus.SUBMITTED, ReferralStatus.UNDER_REVIEW)
        and referral.patient.home_institution_id == referral.to_institution_id
        and may_take(user, referral, Act.ACCEPT)
    )


def complete_follow_up_task(task_id: int, *, actor, outcome: str, now: datetime.datetime | None = None) -> FollowUpTask:
    now = now or timezone.now()
    outcome = _required(outcome, "outcome", gettext_lazy("Write what was done at the follow-up."))
    with transaction.atomic():
        task = FollowUpTask.objects.select_for_update().select_related("referral").get(pk=task_id)
        require(actor, Action.RECORD_FOLLOW_UP, task.referral.to_institution_id)
        if task.status != FollowUpStatus.OPEN:
            raise IllegalTransition(gettext_lazy("This follow-up task is already done."))
        task.status = FollowUpStatus.DONE
        task.done_at = now
        task.done_by = actor
        task.outcome = outcome
        task.save()
        record_audit_event(
            actor=actor,
            action=ReferralAudit.FOLLOW_UP_DONE,
            obj=task,
            institution=task.referral.to_institution,
            detail={"referral": task.referral_id, "kind": task.kind},
        )
        record_outbox_event(
            event_type="referral",
            obj=task.referral,
            patient_id=task.referral.patient_id,
            institution=task.referral.to_institution,
            payload={"referral_id": task.referral_id, "follow_up_task": task.pk, "kind": task.kind, "status": task.status},
        )
    return task


def record_satisfaction(
    referral_id: int, *, actor, score: int, comment: str = "", now: datetime.datetime | None = None
) -> SatisfactionRating:
    """The sending clinic records the patient's satisfaction (1 to 5) once the referral is completed."""
    with transaction.atomic():
        referral = Referral.objects.select_for_update().get(pk=referral_id)
        require(actor, Action.RECORD_FOLLOW_UP, referral.from_institution_id)
        if referral.status != ReferralStatus.COMPLETED:
            raise IllegalTransition(gettext_lazy("Satisfaction is recorded after the referral is completed."))
        if SatisfactionRating.objects.filter(referral=referral).exists():
            raise IllegalTransition(gettext_lazy("Satisfaction has already been recorded for this referral."))
        if not isinstance(score, int) or not 1 <= score <= 5:
            raise ReferralError(gettext_lazy("The score is a whole number from 1 to 5."), field="score")
        rating = SatisfactionRating.objects.create(
            referral=referral, score=score, comment=comment.strip(), recorded_by=actor, recorded_at=now or timezone.now()
        )
        record_audit_event(
            actor=actor,
            action=ReferralAudit.SATISFACTION,
            obj=referral,
            institution=referral.from_institution,
            detail={"score": score},
        )
    return rating


# --- capacity ------------------------------------------------------------------------------------


def open_referral_slot(
    *, actor, department: Department, starts_at: datetime.datetime, capacity: int, now: datetime.datetime | None = None
) -> ReferralSlot:
    now = now or timezone.now()
    require(actor, Action.TRIAGE_REFERRAL, department.institution_id)
    if not department.accepts_referrals:
        raise ReferralError(gettext_lazy("This department does not accept referrals."), field="department")
    if starts_at <= now:
        raise ReferralError(gettext_lazy("A slot starts in the future."), field="starts_at")
    if not isinstance(capacity, int) or not 1 <= capacity <= 500:
        raise ReferralError(gettext_lazy("Capacity is a whole number from 1 to 500."), field="capacity")
    with transaction.atomic():
        slot = ReferralSlot.objects.create(department=department, starts_at=starts_at, capacity=capacity, created_by=actor)
        record_audit_event(
            actor=actor,
            action=ReferralAudit.SLOT_OPENED,
            obj=slot,
            institution=department.institution,
            detail={"capacity": capacity},
        )
    return slot


class SlotRowError(ReferralError):
    """A row of a batch of slots broke a rule; ``row`` is its index in the batch."""

    def __init__(self, message, *, field: str | None = None, row: int = 0):
        super().__init__(message, field=field)
        self.row = row


def open_referral_slots(*, actor, slots: list[dict], now: datetime.datetime | None = None) -> list[ReferralSlot]:
    """Open several slots at once (``department``, ``starts_at``, ``capacity`` each): all of them or none.

    A broken rule raises :class:`SlotRowError` naming the row, before anything is written.
    """
    now = now or timezone.now()
    for index, row in enumerate(slots):
        department = row["department"]
        require(actor, Action.TRIAGE_REFERRAL, department.institution_id)
        if not department.accepts_referrals:
            raise SlotRowError(gettext_lazy("This department does not accept referrals."), field="department", row=index)
        if row["starts_at"] <= now:
            raise SlotRowError(gettext_lazy("A slot starts in the future."), field="starts_at", row=index)
        if not isinstance(row["capacity"], int) or not 1 <= row["capacity"] <= 500:
            raise SlotRowError(gettext_lazy("Capacity is a whole number from 1 to 500."), field="capacity", row=index)
    with transaction.atomic():
        opened = []
        for row in slots:
            slot = ReferralSlot.objects.create(
                department=row["department"], starts_at=row["starts_at"], capacity=row["capacity"], created_by=actor
            )
            record_audit_event(
                actor=actor,
                action=ReferralAudit.SLOT_OPENED,
                obj=slot,
                institution=row["department"].institution,
                detail={"capacity": row["capacity"]},
            )
            opened.append(slot)
    return opened


# --- due-time policy per consortium ---------------------------------------------------------------

POLICY_FIELDS = ("routine_hours", "urgent_hours", "emergency_hours", "administrator_after_hours", "expire_after_hours")
MAX_POLICY_HOURS = 24 * 30


def set_due_time_policy(*, actor, consortium, **hours: int) -> ReferralDueTimePolicy:
    """Set the consortium's decision due times per urgency and its escalation and expiry windows."""
    members = set(Membership.objects.active().filter(consortium=consortium).values_list("institution_id", flat=True))
    allowed = institution_ids_for(actor, Action.CONFIGURE_REFERRALS)
    if not members or (allowed is not None and not members <= allowed):
        raise PermissionDenied
    for name in POLICY_FIELDS:
        value = hours.get(name)
        if not isinstance(value, int) or not 1 <= value <= MAX_POLICY_HOURS:
            raise ReferralError(
                gettext_lazy("Hours are a whole number from 1 to %(max)d.") % {"max": MAX_POLICY_HOURS}, field=name
            )
    if hours["expire_after_hours"] <= hours["administrator_after_hours"]:
        raise ReferralError(
            gettext_lazy("Expiry must come after the alert to the hospital administrator."), field="expire_after_hours"
        )
    with transaction.atomic():
        policy = ReferralDueTimePolicy.objects.select_for_update().filter(consortium=consortium).first()
        policy = policy or ReferralDueTimePolicy(consortium=consortium)
        for name in POLICY_FIELDS:
            setattr(policy, name, hours[name])
        policy.save()
        record_audit_event(
            actor=actor,
            action=ReferralAudit.DUE_TIME_POLICY,
            obj=policy,
            detail={name: hours[name] for name in POLICY_FIELDS},
        )
    return policy


# --- due times: escalation and expiry (run by the beat task) -------------------------------------


def escalate_referral(referral_id: int, *, now: datetime.datetime) -> str:
    """Move one overdue referral one step: coordinators, then hospital administrators, then expiry.

    Returns what was done: ``"coordinator"``, ``"administrator"``, ``"expired"`` or ``""``.
    """
    with transaction.atomic():
        referral = Referral.objects.select_for_update().get(pk=referral_id)
        if referral.due_at is None or referral.due_at >= now or (referral.status, Act.EXPIRE) not in TRANSITIONS:
            return ""
        policy = selectors.due_time_policy_for(referral.from_institution_id, referral.to_institution_id)
        overdue = now - referral.due_at
        # A patient sent down to the own clinic is already home: the clinic is reminded, the referral never expires.
        home = (
            referral.direction == Direction.DOWN
            and Patient.objects.filter(pk=referral.patient_id, home_institution=referral.to_institution_id).exists()
        )
        if overdue >= datetime.timedelta(hours=policy.expire_after_hours) and not home:
            expired = _transition(referral.pk, Act.EXPIRE, actor=None, note=_("Due time passed without a decision."), now=now)
            _notify_sender(
                expired, lambda: _("Referral #%(id)d expired without a decision; refer again if needed.") % {"id": expired.pk}
            )
            return "expired"
        level, roles, label = 1, [StaffRole.REFERRAL_COORDINATOR], "coordinator"
        if overdue >= datetime.timedelta(hours=policy.administrator_after_hours):
            level, roles, label = 2, [StaffRole.HOSPITAL_ADMINISTRATOR], "administrator"
            if referral.escalation_level < 1:  # the beat missed the first step: the coordinators learn it too
                roles.append(StaffRole.REFERRAL_COORDINATOR)
        if referral.escalation_level >= level:
            return ""
        referral.escalation_level = level
        referral.escalated_at = now
        referral.save(update_fields=["escalation_level", "escalated_at"])
        ReferralEvent.objects.create(
            referral=referral,
            occurred_at=now,
            from_status=referral.status,
            to_status=referral.status,
            action=f"escalate_{label}",
            note=_in_default_language(lambda: _("Overdue: escalated to the %(who)s.") % {"who": _role_label(label)}),
        )
        record_audit_event(
            actor=None, action=ReferralAudit.ESCALATED, obj=referral, institution=referral.to_institution, detail={"level": level}
        )
        hours = int(overdue.total_seconds() // 3600)
        notify(
            selectors.users_with_role(referral.to_institution_id, roles),
            _in_default_language(
                lambda: (
                    _("Referral #%(id)d is %(hours)d hours past its due time and still has no decision.")
                    % {"id": referral.pk, "hours": hours}
                )
            ),
            referral=referral,
        )
        return label


def _role_label(label: str) -> str:
    return str(StaffRole.REFERRAL_COORDINATOR.label if label == "coordinator" else StaffRole.HOSPITAL_ADMINISTRATOR.label)


def escalate_overdue_referrals(now: datetime.datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    counts = {"coordinator": 0, "administrator": 0, "expired": 0}
    for referral_id in selectors.overdue_referral_ids(now):
        outcome = escalate_referral(referral_id, now=now)
        if outcome:
            counts[outcome] += 1
    return counts


def _escalate_follow_up(task_id: int, now: datetime.datetime) -> bool:
    with transaction.atomic():
        task = FollowUpTask.objects.select_for_update().select_related("referral").get(pk=task_id)
        if task.status != FollowUpStatus.OPEN or task.escalated_at is not None:
            return False
        task.escalated_at = now
        task.save(update_fields=["escalated_at"])
        referral = task.referral
        users = list(selectors.users_with_role(referral.to_institution_id, (StaffRole.CLINIC_CLINICIAN,)))
        users += list(selectors.users_with_role(referral.from_institution_id, (StaffRole.REFERRAL_COORDINATOR,)))
        notify(
            users,
            _in_default_language(
                lambda: (
                    _("Follow-up “%(kind)s” of referral #%(id)d was due on %(due)s and is not done.")
                    % {"kind": task.get_kind_display(), "id": referral.pk, "due": task.due_on.isoformat()}
                )
            ),
            referral=referral,
            link=reverse("referrals:follow-ups"),
        )
        record_audit_event(actor=None, action=ReferralAudit.FOLLOW_UP_ESCALATED, obj=task, institution=referral.to_institution)
    return True


def escalate_overdue_follow_ups(now: datetime.datetime | None = None) -> int:
    """Alert the clinic and the discharging hospital once about each follow-up task past its due date."""
    now = now or timezone.now()
    task_ids = list(selectors.overdue_follow_ups(timezone.localdate(now)).values_list("pk", flat=True))
    return sum(_escalate_follow_up(task_id, now) for task_id in task_ids)


def expire_referral(referral_id: int, *, now: datetime.datetime | None = None) -> Referral:
    """Expire an undecided referral (the beat task's path; only the system may take it)."""
    return _transition(referral_id, Act.EXPIRE, actor=None, note="", now=now)


# --- notifications -------------------------------------------------------------------------------


def mark_notifications_read(*, user, ids: Iterable[int] | None = None) -> int:
    queryset = Notification.objects.filter(recipient=user, is_read=False)
    if ids is not None:
        queryset = queryset.filter(pk__in=list(ids))
    return queryset.update(is_read=True)
