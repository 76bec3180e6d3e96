"""Writes shared by every app: audit events and outbox events, recorded inside the caller's transaction."""

from django.db import transaction

from .audit import AuditAction
from .models import AuditEvent, OutboxEvent


def _actor_fields(actor) -> dict:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return {}
    if hasattr(actor, "api_client"):
        return {"api_client": actor.api_client}
    return {"actor": actor}


def record_audit_event(*, actor, action: AuditAction, obj, institution=None, detail: dict | None = None) -> AuditEvent:
    """Append an audit event; never put names, resident IDs or phones into ``detail``."""
    if not isinstance(action, AuditAction):
        raise TypeError(f"record_audit_event takes a member of an app's AuditAction enumeration (its audit.py), not {action!r}")
    return AuditEvent.objects.create(
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        institution=institution,
        detail=detail or {},
        **_actor_fields(actor),
    )


def record_outbox_event(
    *, event_type: str, obj, patient_id: int | None, institution=None, payload: dict | None = None
) -> OutboxEvent:
    """Record that others must learn about ``obj``; must run inside the transaction that changed it."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record_outbox_event must be called inside the transaction that made the change")
    event = OutboxEvent.objects.create(
        event_type=event_type,
        aggregate_type=obj._meta.label_lower,
        aggregate_id=str(obj.pk),
        patient_id=patient_id,
        institution=institution,
        payload=payload or {},
    )
    transaction.on_commit(_dispatch_outbox_soon, robust=True)
    return event


def purge_outbox_messages(*, patient_id: int | None = None, event_ids=None) -> int:
    """Drop the stored FHIR messages (identifiers included) of a patient's events, or of ``event_ids``.

    The outbox keeps a message only while a delivery may need to send it again: sync purges an
    event's message once every delivery of it is delivered, and records purges a patient's messages
    when consent is withdrawn.  A purged event sent again is built afresh from the record.
    Returns how many messages were dropped.
    """
    events = OutboxEvent.objects.filter(fhir__isnull=False)
    if patient_id is not None:
        events = events.filter(patient_id=patient_id)
    if event_ids is not None:
        events = events.filter(pk__in=event_ids)
    return events.update(fhir=None)


#: Called after the commit of every transaction that recorded outbox events. ``sync`` connects its
#: dispatcher in ``SyncConfig.ready``: the kernel never imports the apps that deliver its events.
_outbox_listeners: list = []


def on_outbox_committed(listener) -> None:
    """Register ``listener()`` to run after each commit that recorded outbox events (once per listener)."""
    if listener not in _outbox_listeners:
        _outbox_listeners.append(listener)


def _dispatch_outbox_soon() -> None:
    """Nudge the listeners after commit; if the broker is down, the beat sweep dispatches later."""
    for listener in _outbox_listeners:
        listener()
