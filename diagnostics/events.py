"""What every diagnostics write records besides its own rows: the step, the audit event, the outbox
event, and notifications (rows in the transaction, e-mail on commit).  No names, resident IDs or
phones go into a payload, an audit detail or a notification text."""

import datetime
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.utils import translation

from consortium.models import Staff, StaffRole
from consortium.services import record_audit_event, record_outbox_event

from .audit import DiagnosticsAudit
from .models import DiagnosticEvent, DiagnosticNotification, Order


def order_payload(order: Order) -> dict:
    """What other systems learn about an order."""
    return {
        "order_id": order.pk,
        "accession": order.accession,
        "status": order.status,
        "urgency": order.urgency,
        "modality": order.modality,
        "service": order.service.code,
        "centre": order.centre.code,
        "ordering_institution": order.ordering_institution.code,
        "encounter_id": order.encounter_id,
        "due_at": order.due_at.isoformat() if order.due_at else None,
        "reported_at": order.reported_at.isoformat() if order.reported_at else None,
    }


def step(
    *,
    actor,
    action: str,
    source: str,
    target: str,
    now: datetime.datetime,
    note: str = "",
    order=None,
    sample=None,
    critical_value=None,
    consultation=None,
) -> DiagnosticEvent:
    return DiagnosticEvent.objects.create(
        occurred_at=now,
        actor=actor if getattr(actor, "pk", None) and not hasattr(actor, "api_client") else None,
        order=order,
        sample=sample,
        critical_value=critical_value,
        consultation=consultation,
        action=action,
        from_status=source,
        to_status=target,
        note=note,
    )


def audit(*, actor, action: str, obj, institution, detail: dict | None = None) -> None:
    """``action`` is ``<thing>.<what happened>``; it must be listed in :class:`DiagnosticsAudit`."""
    record_audit_event(
        actor=actor, action=DiagnosticsAudit(f"diagnostics.{action}"), obj=obj, institution=institution, detail=detail
    )


def outbox(*, event_type: str, obj, patient_id: int, institution, payload: dict) -> None:
    record_outbox_event(event_type=event_type, obj=obj, patient_id=patient_id, institution=institution, payload=payload)


def _send_emails(ids: list[int]) -> None:
    rows = DiagnosticNotification.objects.filter(pk__in=ids).select_related("recipient")
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


def in_default_language(build: Callable[[], str]) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return str(build())


def notify(users: Iterable, build: Callable[[], str], *, link: str) -> list[DiagnosticNotification]:
    """Notify each user once, in the platform's default language; e-mail after commit."""
    text = in_default_language(build)[:300]
    seen, rows = set(), []
    for user in users:
        if user is None or user.pk in seen:
            continue
        seen.add(user.pk)
        rows.append(DiagnosticNotification(recipient=user, text=text, link=link))
    created = DiagnosticNotification.objects.bulk_create(rows)
    ids = [row.pk for row in created if row.pk]
    if ids:
        transaction.on_commit(lambda: _send_emails(ids))
    return created


def users_of(institution_id: int, roles: Iterable[str]) -> list:
    return [
        staff.user
        for staff in Staff.objects.filter(
            institution_id=institution_id, role__in=list(roles), user__is_active=True
        ).select_related("user")
    ]


CLINIC_ROLES = (StaffRole.CLINIC_CLINICIAN, StaffRole.REFERRAL_COORDINATOR)
HEAD_ROLES = (StaffRole.HOSPITAL_ADMINISTRATOR,)


def clinic_users(order: Order) -> list:
    """Who at the ordering institution hears about the order: the orderer first, then its clinicians."""
    users = [order.created_by] if order.created_by_id else []
    return users + users_of(order.ordering_institution_id, CLINIC_ROLES)


def centre_users(centre) -> list:
    """The centre's active readers."""
    return [reader.staff.user for reader in centre.readers.filter(is_active=True).select_related("staff__user")]


def clinic_heads(institution_id: int) -> list:
    """The head of an institution: its administrators, or its clinicians and clerks where it has none."""
    heads = users_of(institution_id, HEAD_ROLES)
    return heads or users_of(institution_id, (StaffRole.CLINIC_CLINICIAN, StaffRole.CLINIC_CLERK))
