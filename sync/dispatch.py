"""Dispatch: outbox events become deliveries, one per endpoint allowed to learn about each event.

Who receives what: party events go to the institutions party to them; encounter events go to the
source institution's own endpoints and, with the patient's consent, to peer members of its consortia.
"""

import datetime

from django.db import transaction
from django.utils import timezone

from consortium.models import Membership, OutboxEvent, OutboxEventType
from records.models import Patient

from . import fhir
from .models import Delivery, Endpoint


def lane_for(event: OutboxEvent) -> str:
    """Events of one patient share a lane; events without a patient get one per object."""
    if event.patient_id is not None:
        return f"patient:{event.patient_id}"
    return f"{event.aggregate_type}:{event.aggregate_id}"[:100]


def _peer_ids(institution_id: int, on: datetime.date) -> frozenset[int]:
    return frozenset(Membership.objects.co_members_of(institution_id, on).values_list("institution_id", flat=True))


def _consenting(patient_ids: set[int]) -> frozenset[int]:
    return frozenset(Patient.objects.filter(pk__in=patient_ids, consents_to_sharing=True).values_list("pk", flat=True))


#: Events that go to the institutions party to them (``fhir.parties_of``) rather than by consent.
PARTY_EVENTS = frozenset({OutboxEventType.REFERRAL, OutboxEventType.DISCHARGE})


def _recipients(
    event: OutboxEvent, endpoints: list[Endpoint], peers: dict, consenting: frozenset[int], about: dict
) -> list[Endpoint]:
    """Endpoints that may learn about ``event``.

    Referral and discharge events go to the institutions party to them.  Encounter events go
    to the source institution's own endpoints, and to peer members of its consortia only when
    the patient consents to sharing.
    """
    subscribed = [endpoint for endpoint in endpoints if event.event_type in endpoint.events]
    if not subscribed:
        return []
    if event.event_type in PARTY_EVENTS:
        parties = fhir.parties_of(event, about)
        if parties is not None:
            return [endpoint for endpoint in subscribed if endpoint.institution_id in parties]
    if event.institution_id is None:
        return []
    if event.institution_id not in peers:
        peers[event.institution_id] = _peer_ids(event.institution_id, timezone.localdate())
    shared = event.patient_id in consenting
    return [
        endpoint
        for endpoint in subscribed
        if endpoint.institution_id == event.institution_id or (shared and endpoint.institution_id in peers[event.institution_id])
    ]


def dispatch_pending_events(*, limit: int = 500) -> set[int]:
    """Turn undispatched outbox events into deliveries; returns the endpoints that got work."""
    return dispatch_round(limit=limit)[1]


def dispatch_round(*, limit: int = 500) -> tuple[int, set[int]]:
    """One round of :func:`dispatch_pending_events`: ``(events dispatched, endpoints that got work)``.

    A round that took ``limit`` events may have left more behind, whether or not any endpoint
    wanted them; the dispatch task goes on until a round comes back short.
    """
    lanes: set[int] = set()
    with transaction.atomic():
        events = list(
            OutboxEvent.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("institution")
            .filter(dispatched_at__isnull=True)
            .order_by("pk")[:limit]
        )
        if not events:
            return 0, lanes
        endpoints = list(Endpoint.objects.filter(is_active=True))
        consenting = _consenting({event.patient_id for event in events if event.patient_id is not None})
        peers: dict[int, frozenset[int]] = {}
        now = timezone.now()
        deliveries = []
        about = fhir.preload([event for event in events if event.event_type in PARTY_EVENTS])
        routed = [(event, _recipients(event, endpoints, peers, consenting, about)) for event in events]
        about.update(fhir.preload([event for event, recipients in routed if recipients and fhir.key_of(event) not in about]))
        for event, recipients in routed:
            event.dispatched_at = now
            if not recipients:
                continue
            event.fhir = fhir.build_message(event, about)
            lane = lane_for(event)
            for endpoint in recipients:
                deliveries.append(Delivery(event=event, endpoint=endpoint, lane=lane, next_attempt_at=now, created_at=now))
                lanes.add(endpoint.pk)
        Delivery.objects.bulk_create(deliveries, ignore_conflicts=True, batch_size=1000)
        OutboxEvent.objects.bulk_update(events, ["dispatched_at", "fhir"], batch_size=500)
    return len(events), lanes
