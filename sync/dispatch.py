"""Dispatch: outbox events become deliveries, one per endpoint allowed to learn about each event.

Who receives what: party events go to the institutions party to them; encounter events go to the
source institution's own endpoints and, with the patient's consent, to peer members of its consortia.
Each delivery records its *basis* (the access reason of records that lets the receiver read it: own
institution, own visits, referral, consent), logged with the push as a disclosure once delivered, and
whether the receiver is the patient's home institution: only that one gets the resident ID, phone
and address (``fhir.minimise``), as only it reads them unmasked on the platform.

The active endpoints are read locked, so a deactivation committing meanwhile either comes first (the
endpoint gets nothing more) or waits for this round and then cancels what it created.
"""

import datetime
import hashlib

import orjson
from django.db import connection, transaction
from django.utils import timezone

from consortium.models import Membership, OutboxEvent, OutboxEventType
from records.models import AccessReason, Patient

from . import fhir
from .models import Delivery, Endpoint


def lane_for(event: OutboxEvent) -> str:
    """Events of one patient share a lane; events without a patient get one per object."""
    if event.patient_id is not None:
        return f"patient:{event.patient_id}"
    return f"{event.aggregate_type}:{event.aggregate_id}"[:100]


def _peer_ids(institution_id: int, on: datetime.date) -> frozenset[int]:
    return frozenset(Membership.objects.co_members_of(institution_id, on).values_list("institution_id", flat=True))


def _patients(patient_ids: set[int]) -> dict[int, tuple[int, bool]]:
    """``{patient id: (home institution id, consents to sharing)}``."""
    rows = Patient.objects.filter(pk__in=patient_ids).values_list("pk", "home_institution_id", "consents_to_sharing")
    return {pk: (home, consents) for pk, home, consents in rows}


#: Events that go to the institutions party to them (``fhir.parties_of``) rather than by consent.
PARTY_EVENTS = frozenset({OutboxEventType.REFERRAL, OutboxEventType.DISCHARGE})


def _recipients(
    event: OutboxEvent, endpoints: list[Endpoint], peers: dict, patients: dict, about: dict
) -> list[tuple[Endpoint, str]]:
    """Endpoints that may learn about ``event``, each with the basis on which it may.

    Referral and discharge events go to the institutions party to them.  Encounter events go
    to the source institution's own endpoints, and to peer members of its consortia only when
    the patient consents to sharing.
    """
    subscribed = [endpoint for endpoint in endpoints if event.event_type in endpoint.events]
    if not subscribed:
        return []
    home, consents = patients.get(event.patient_id, (None, False))

    def basis(endpoint: Endpoint, otherwise: str) -> str:
        return AccessReason.OWN_INSTITUTION if home is not None and endpoint.institution_id == home else otherwise

    if event.event_type in PARTY_EVENTS:
        parties = fhir.parties_of(event, about)
        if parties is not None:
            return [(e, basis(e, AccessReason.REFERRAL)) for e in subscribed if e.institution_id in parties]
    if event.institution_id is None:
        return []
    if event.institution_id not in peers:
        peers[event.institution_id] = _peer_ids(event.institution_id, timezone.localdate())
    recipients = []
    for endpoint in subscribed:
        if endpoint.institution_id == event.institution_id:
            recipients.append((endpoint, basis(endpoint, AccessReason.OWN_VISITS)))
        elif consents and endpoint.institution_id in peers[event.institution_id]:
            recipients.append((endpoint, basis(endpoint, AccessReason.CONSENT)))
    return recipients


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
        events = take_events(limit)
        if not events:
            return 0, lanes
        endpoints = list(Endpoint.objects.select_for_update().filter(is_active=True).order_by("pk"))
        patients = _patients({event.patient_id for event in events if event.patient_id is not None})
        peers: dict[int, frozenset[int]] = {}
        now = timezone.now()
        deliveries = []
        about = fhir.preload([event for event in events if event.event_type in PARTY_EVENTS])
        routed = [(event, _recipients(event, endpoints, peers, patients, about)) for event in events]
        about.update(fhir.preload([event for event, recipients in routed if recipients and fhir.key_of(event) not in about]))
        for event, recipients in routed:
            event.dispatched_at = now
            if not recipients:
                continue
            event.fhir = fhir.build_message(event, about)
            lane = lane_for(event)
            for endpoint, basis in recipients:
                deliveries.append(
                    Delivery(
                        event=event,
                        endpoint=endpoint,
                        lane=lane,
                        basis=basis,
                        with_identifiers=basis == AccessReason.OWN_INSTITUTION,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
                lanes.add(endpoint.pk)
        Delivery.objects.bulk_create(deliveries, ignore_conflicts=True, batch_size=1000)
        _mark_dispatched(events, now)
    return len(events), lanes


def take_events(limit: int) -> list[OutboxEvent]:
    """The oldest undispatched events, locked for this round's transaction, once no other round runs."""
    _one_round_at_a_time()
    return list(
        OutboxEvent.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("institution")
        .filter(dispatched_at__isnull=True)
        .order_by("pk")[:limit]
    )


#: The advisory lock that lets one dispatch round run at a time (transaction-scoped: PgBouncer-safe).
DISPATCH_LOCK = int.from_bytes(hashlib.sha256(b"sync.dispatch").digest()[:8], "big", signed=True)


def _one_round_at_a_time() -> None:
    """Wait for any other dispatch round to commit before taking events.

    Two dispatchers run at once whenever the beat sweep's dispatch meets the task a commit queued.
    Taking events side by side (``SKIP LOCKED``), the second could commit deliveries of a patient's
    later event while the first still held the earlier one: the later one was then its lane's only
    pending delivery, so it was claimed and sent first.  Rounds one after another keep each lane's
    events dispatched in order.  SQLite serialises every writer already.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [DISPATCH_LOCK])


def _mark_dispatched(events: list[OutboxEvent], now) -> None:
    """Stamp the round's events dispatched and store the messages built: one UPDATE for those without
    a message, one executemany of ``(message, key)`` for the others instead of ``bulk_update``'s one
    statement with a CASE over every message of the round."""
    OutboxEvent.objects.filter(pk__in=[event.pk for event in events if event.fhir is None]).update(dispatched_at=now)
    built = [event for event in events if event.fhir is not None]
    if not built:
        return
    meta = OutboxEvent._meta
    created_field = meta.get_field("created_at")
    stamp = meta.get_field("dispatched_at").get_db_prep_value(now, connection)
    rows = [
        (
            stamp,
            orjson.dumps(event.fhir).decode(),  # JSONField's json.dumps took a tenth of a dispatch
            event.pk,
            created_field.get_db_prep_value(event.created_at, connection),
        )
        for event in built
    ]
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    # created_at too: the outbox is partitioned by it on PostgreSQL, so each UPDATE touches one partition.
    sql = f"UPDATE {connection.ops.quote_name(meta.db_table)} SET dispatched_at = %s, fhir = %s{cast} WHERE id = %s AND created_at = %s"  # noqa: S608, E501
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
