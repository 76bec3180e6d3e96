"""Critical values (危急值): raised with a report, acknowledged by the ordering clinic in time, closed
only with the action taken, escalated by the beat task when the deadline passes.

The order of things:

1. a reader writes a report with a lab value at or beyond its analyte's critical limit, or marks the
   result critical in words: one :class:`CriticalValue` per cause, due ``centre.critical_ack_minutes``
   after it was raised; the ordering clinic's clinicians are notified at once;
2. a clinician of the ordering institution acknowledges it (in time or late, both are recorded);
3. unacknowledged past the deadline, :func:`escalate_overdue` (Celery beat) moves it to ``escalated``
   and notifies the clinic's head and the centre — once; acknowledging stays open;
4. the clinic closes it with the action taken (called the patient back, referred, treated).

Every step is a :class:`DiagnosticEvent` with time and person, an audit event and an outbox event.
"""

import datetime

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from consortium.errors import IllegalTransition, Invalid, NotPermitted
from consortium.models import OutboxEventType
from consortium.permissions import SYSTEM, Action, require

from . import events
from .models import CriticalStatus, CriticalValue, Interpretation, Order
from .transitions import ACTION_LABELS, CRITICAL_TRANSITIONS, CriticalAct, Side

CRITICAL_INTERPRETATIONS = frozenset({Interpretation.CRITICAL_LOW, Interpretation.CRITICAL_HIGH})


def _link(value: CriticalValue) -> str:
    return reverse("diagnostics:critical-detail", args=[value.pk])


def _payload(value: CriticalValue) -> dict:
    return {
        "critical_value_id": value.pk,
        "order_id": value.order_id,
        "accession": value.order.accession,
        "status": value.status,
        "raised_at": value.raised_at.isoformat(),
        "ack_due_at": value.ack_due_at.isoformat(),
        "acknowledged_at": value.acknowledged_at.isoformat() if value.acknowledged_at else None,
    }


def _record(value: CriticalValue, *, actor, action: str, source: str, now, note: str = "") -> None:
    order = value.order
    events.step(
        actor=actor,
        action=f"critical.{action}",
        source=source,
        target=value.status,
        now=now,
        note=note,
        order=order,
        critical_value=value,
    )
    events.audit(
        actor=actor,
        action=f"critical.{action}",
        obj=value,
        institution=order.ordering_institution,
        detail={"from_status": source, "to_status": value.status, "order": order.pk},
    )
    events.outbox(
        event_type=OutboxEventType.CRITICAL_VALUE,
        obj=value,
        patient_id=order.patient_id,
        institution=order.centre.institution,
        payload=_payload(value),
    )


def raise_critical(order: Order, *, actor, description: str, observation=None, now=None) -> CriticalValue:
    """Open a critical value on ``order``; called inside the report's transaction."""
    now = now or timezone.now()
    value = CriticalValue.objects.create(
        order=order,
        observation=observation,
        description=description[:300],
        raised_by=actor if getattr(actor, "pk", None) else None,
        raised_at=now,
        ack_due_at=now + datetime.timedelta(minutes=order.centre.critical_ack_minutes),
    )
    _record(value, actor=actor, action="raise", source="", now=now, note=description[:300])
    events.notify(
        events.clinic_users(order),
        lambda: (
            _("CRITICAL value on %(accession)s: %(what)s. Acknowledge by %(due)s.")
            % {
                "accession": order.accession,
                "what": value.description,
                "due": timezone.localtime(value.ack_due_at).strftime("%H:%M"),
            }
        ),
        link=_link(value),
    )
    return value


def raise_from_report(order: Order, observations, description: str, *, actor, now) -> list[CriticalValue]:
    """Raise what a report carries: each value beyond a critical limit, and the reader's own mark."""
    raised = []
    for row in observations:
        if row.interpretation in CRITICAL_INTERPRETATIONS:
            text = f"{row.name} {row.value.normalize()} {row.unit}".strip()
            raised.append(raise_critical(order, actor=actor, description=text, observation=row, now=now))
    description = (description or "").strip()
    if description:
        raised.append(raise_critical(order, actor=actor, description=description, now=now))
    return raised


def _transition(value_id: int, act: CriticalAct, *, actor, note: str = "", now=None, apply=None) -> CriticalValue:
    now = now or timezone.now()
    with transaction.atomic():
        value = CriticalValue.objects.select_for_update().get(pk=value_id)
        transition = CRITICAL_TRANSITIONS.get((value.status, act))
        if transition is None:
            raise IllegalTransition(
                _("A critical value that is “%(status)s” cannot be taken through “%(action)s”.")
                % {"status": value.get_status_display(), "action": ACTION_LABELS[act]}
            )
        if transition.side == Side.SYSTEM:
            if actor is not SYSTEM:
                raise NotPermitted(_("Only the platform takes this step."))
        else:
            require(actor, Action.ACKNOWLEDGE_CRITICAL, value.order.ordering_institution_id)
        source = value.status
        if apply is not None:
            apply(value)
        value.status = transition.target
        value.save()
        _record(value, actor=actor, action=act, source=source, now=now, note=note)
    return value


def acknowledge_critical(value_id: int, *, actor, note: str = "", now=None) -> CriticalValue:
    """The ordering clinic has received the critical value; the time says whether it was in time."""
    now = now or timezone.now()

    def apply(value: CriticalValue) -> None:
        value.acknowledged_by = actor
        value.acknowledged_at = now

    return _transition(value_id, CriticalAct.ACKNOWLEDGE, actor=actor, note=(note or "").strip(), now=now, apply=apply)


def close_critical(value_id: int, *, actor, action_taken: str, now=None) -> CriticalValue:
    """Close an acknowledged critical value; only with the action taken written down."""
    now = now or timezone.now()
    action_taken = (action_taken or "").strip()
    if not action_taken:
        raise Invalid(_("Record the action taken before closing the critical value."), field="action_taken")

    def apply(value: CriticalValue) -> None:
        value.action_taken = action_taken
        value.closed_by = actor
        value.closed_at = now

    return _transition(value_id, CriticalAct.CLOSE, actor=actor, note=action_taken, now=now, apply=apply)


def escalate(value_id: int, *, now=None) -> CriticalValue:
    """Past the deadline and unacknowledged: tell the clinic's head and the centre (the beat task's step)."""
    now = now or timezone.now()

    def apply(value: CriticalValue) -> None:
        value.escalated_at = now

    with transaction.atomic():
        value = _transition(value_id, CriticalAct.ESCALATE, actor=SYSTEM, now=now, apply=apply)
        order = value.order
        users = events.clinic_heads(order.ordering_institution_id) + events.centre_users(order.centre)
        users += events.users_of(order.centre.institution_id, events.HEAD_ROLES)
        events.notify(
            users,
            lambda: (
                _("ESCALATED: the critical value on %(accession)s was not acknowledged by %(clinic)s in time.")
                % {"accession": order.accession, "clinic": order.ordering_institution.name}
            ),
            link=_link(value),
        )
    return value


def escalate_overdue(now=None) -> int:
    """Escalate every raised critical value past its deadline; returns how many."""
    now = now or timezone.now()
    due = list(
        CriticalValue.objects.filter(status=CriticalStatus.RAISED, ack_due_at__lt=now)
        .order_by("ack_due_at")
        .values_list("pk", flat=True)
    )
    done = 0
    for pk in due:
        try:
            escalate(pk, now=now)
        except IllegalTransition:
            continue  # acknowledged meanwhile
        done += 1
    return done
