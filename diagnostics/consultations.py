"""Remote consultations (远程会诊): a clinic asks a consultation centre for an opinion on a case.

The request carries a case summary built from the patient's records (``records.selectors.clinical_summary``,
the same facts a referral's snapshot holds), the centre schedules it (time, participants, a meeting
link — the video itself is outside the platform) and records the opinion and recommendations, which
return to the clinic and appear on the patient's timeline.  When the opinion recommends it, the
clinic turns the consultation into an upward referral from the same visit: the referral's own
creation page is opened with the visit filled in (diagnostics does not import referrals).
"""

import datetime

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from consortium.errors import IllegalTransition, Invalid, NotPermitted
from consortium.models import OutboxEventType
from consortium.permissions import Action, require, staff_of
from records.selectors import clinical_summary

from . import events
from .models import CentreKind, Consultation
from .transitions import ACTION_LABELS, CONSULTATION_TRANSITIONS, ConsultationAct, Side


def _link(consultation: Consultation) -> str:
    return reverse("diagnostics:consultation-detail", args=[consultation.pk])


def referral_link(consultation: Consultation) -> str:
    """The upward-referral creation page for the consultation's visit (handled by referrals)."""
    return f"{reverse('referrals:create')}?encounter={consultation.encounter_id}"


def _record(consultation: Consultation, *, actor, action: str, source: str, now, note: str = "") -> None:
    events.step(
        actor=actor,
        action=f"consultation.{action}",
        source=source,
        target=consultation.status,
        now=now,
        note=note,
        consultation=consultation,
    )
    events.audit(
        actor=actor,
        action=f"consultation.{action}",
        obj=consultation,
        institution=consultation.centre.institution,
        detail={"from_status": source, "to_status": consultation.status},
    )
    events.outbox(
        event_type=OutboxEventType.CONSULTATION,
        obj=consultation,
        patient_id=consultation.patient_id,
        institution=consultation.requesting_institution,
        payload={
            "consultation_id": consultation.pk,
            "status": consultation.status,
            "centre": consultation.centre.code,
            "requesting_institution": consultation.requesting_institution.code,
            "scheduled_at": consultation.scheduled_at.isoformat() if consultation.scheduled_at else None,
            "recommends_referral": consultation.recommends_referral,
        },
    )


def request_consultation(*, actor, encounter, centre, question: str, now=None) -> Consultation:
    """Ask ``centre`` for an opinion on the visit's case, with the records' case summary."""
    now = now or timezone.now()
    staff = staff_of(actor)
    if staff is None or staff.institution_id != encounter.institution_id:
        raise NotPermitted(_("You can order only from a visit at your own institution."))
    require(actor, Action.ORDER_DIAGNOSTICS, encounter.institution_id)
    if centre.kind != CentreKind.CONSULTATION or not centre.is_active:
        raise Invalid(_("Choose a remote consultation centre."), field="centre")
    if not centre.served_institutions.filter(pk=encounter.institution_id).exists():
        raise Invalid(_("%(centre)s does not serve your institution.") % {"centre": centre.name}, field="centre")
    question = (question or "").strip()
    if not question:
        raise Invalid(_("Write the question for the specialist."), field="question")
    with transaction.atomic():
        consultation = Consultation.objects.create(
            patient=encounter.patient,
            encounter=encounter,
            requesting_institution=encounter.institution,
            centre=centre,
            question=question,
            case_summary=clinical_summary(encounter.patient),
            requested_by=actor,
            requested_at=now,
        )
        _record(consultation, actor=actor, action="request", source="", now=now)
        events.notify(
            events.centre_users(centre) + events.users_of(centre.institution_id, events.HEAD_ROLES),
            lambda: (
                _("New remote consultation #%(id)s from %(clinic)s.")
                % {"id": consultation.pk, "clinic": encounter.institution.name}
            ),
            link=_link(consultation),
        )
    return consultation


def _transition(pk: int, act: ConsultationAct, *, actor, note: str = "", now=None, apply=None) -> Consultation:
    now = now or timezone.now()
    with transaction.atomic():
        consultation = Consultation.objects.select_for_update().get(pk=pk)
        transition = CONSULTATION_TRANSITIONS.get((consultation.status, act))
        if transition is None:
            raise IllegalTransition(
                _("A consultation that is “%(status)s” cannot be taken through “%(action)s”.")
                % {"status": consultation.get_status_display(), "action": ACTION_LABELS.get(act, act)}
            )
        if transition.side == Side.CLINIC:
            require(actor, Action.ORDER_DIAGNOSTICS, consultation.requesting_institution_id)
        else:
            require(actor, Action.RUN_DIAGNOSTIC_CENTRE, consultation.centre.institution_id)
        source = consultation.status
        if apply is not None:
            apply(consultation)
        consultation.status = transition.target
        consultation.save()
        _record(consultation, actor=actor, action=act, source=source, now=now, note=note)
        if transition.side == Side.CENTRE:
            users = [consultation.requested_by] if consultation.requested_by_id else []
            events.notify(
                users,
                lambda: (
                    _("Remote consultation #%(id)s: %(status)s.")
                    % {"id": consultation.pk, "status": consultation.get_status_display()}
                ),
                link=_link(consultation),
            )
    return consultation


def schedule_consultation(
    pk: int, *, actor, scheduled_at: datetime.datetime, participants: str = "", meeting_link: str = "", now=None
):
    now = now or timezone.now()
    if scheduled_at is None or scheduled_at < now - datetime.timedelta(minutes=5):
        raise Invalid(_("Choose a time in the future."), field="scheduled_at")

    def apply(c: Consultation) -> None:
        c.scheduled_at = scheduled_at
        c.participants = (participants or "").strip()[:300]
        c.meeting_link = (meeting_link or "").strip()

    return _transition(pk, ConsultationAct.SCHEDULE, actor=actor, now=now, apply=apply)


def give_opinion(pk: int, *, actor, opinion: str, recommendations: str = "", recommends_referral: bool = False, now=None):
    now = now or timezone.now()
    opinion = (opinion or "").strip()
    if not opinion:
        raise Invalid(_("Write the specialist's opinion."), field="opinion")

    def apply(c: Consultation) -> None:
        c.opinion = opinion
        c.recommendations = (recommendations or "").strip()
        c.recommends_referral = bool(recommends_referral)
        c.opinion_by = actor
        c.opinion_at = now

    return _transition(pk, ConsultationAct.GIVE_OPINION, actor=actor, now=now, apply=apply)


def decline_consultation(pk: int, *, actor, reason: str, now=None):
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(_("Give the reason for declining."), field="reason")

    def apply(c: Consultation) -> None:
        c.decline_reason = reason

    return _transition(pk, ConsultationAct.DECLINE, actor=actor, note=reason, now=now, apply=apply)


def cancel_consultation(pk: int, *, actor, reason: str = "", now=None):
    return _transition(pk, ConsultationAct.CANCEL, actor=actor, note=(reason or "").strip(), now=now)
