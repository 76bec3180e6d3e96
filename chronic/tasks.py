"""Beat tasks of chronic care: nightly screening, missed follow-ups, and patients coming back from hospital."""

from celery import shared_task
from django.db import transaction

from consortium.models import Institution, OutboxEvent, OutboxEventType

from . import services
from .models import EventCursor
from .screening import screen_candidates as _screen


@shared_task(name="chronic.tasks.screen_candidates")
def screen_candidates() -> dict[str, int]:
    return _screen()


@shared_task(name="chronic.tasks.mark_missed_follow_ups")
def mark_missed_follow_ups() -> int:
    return services.mark_missed_follow_ups()


#: How many discharge events one run reads (the next run goes on from there).
DISCHARGE_BATCH = 500
DISCHARGE_CURSOR = "discharges"


def process_discharges(limit: int = DISCHARGE_BATCH) -> int:
    """Read the outbox's discharge events after the last one handled and bring those patients' plans back.

    The referral app records a ``discharge`` outbox event for each downward referral at discharge
    (aggregate: the downward referral; payload: its ends by institution code). Chronic care never
    imports referrals: it reads that event stream, from a cursor moved in the same transaction as
    the work, and :func:`services.return_from_hospital` skips an enrolment that has seen the
    referral, so a rerun changes nothing.
    """
    codes = dict(Institution.objects.values_list("code", "pk"))
    handled = 0
    with transaction.atomic():
        cursor, _created = EventCursor.objects.select_for_update().get_or_create(name=DISCHARGE_CURSOR)
        events = list(
            OutboxEvent.objects.filter(
                pk__gt=cursor.last_event_id, event_type=OutboxEventType.DISCHARGE, aggregate_type="referrals.referral"
            ).order_by("pk")[:limit]
        )
        for event in events:
            if event.patient_id is not None:
                services.return_from_hospital(
                    patient_id=event.patient_id,
                    referral_id=int(event.aggregate_id),
                    hospital_id=codes.get(event.payload.get("from_institution")),
                    clinic_id=codes.get(event.payload.get("to_institution")),
                )
                handled += 1
            cursor.last_event_id = event.pk
        cursor.save(update_fields=["last_event_id"])
    return handled


@shared_task(name="chronic.tasks.return_discharged_patients")
def return_discharged_patients() -> int:
    return process_discharges()
