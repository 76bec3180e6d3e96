"""Outbound push: routing, FHIR body, signature, back-off, dead letters, replay and per-patient order."""

import datetime

import pytest
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle

from consortium.models import AuditEvent, OutboxEvent
from consortium.permissions import SYSTEM
from sync import deliveries, dispatch, endpoints, transitions
from sync.delivery import verify
from sync.models import Delivery, DeliveryStatus
from sync.tasks import sync_deliver_endpoint, sync_sweep
from tests.factories import PatientFactory

from .conftest import write_encounter

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager")]


def make_due():
    Delivery.objects.filter(status=DeliveryStatus.PENDING).update(next_attempt_at=timezone.now(), lease_until=None)


def test_encounter_of_a_consenting_patient_is_pushed_signed_as_fhir(chain, city_endpoint, receiver):
    encounter, event = write_encounter(chain["township"])
    sync_sweep()

    delivery = Delivery.objects.get(event=event)
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 1 and delivery.delivered_at
    [request] = receiver.received
    assert request.headers["Content-Type"].startswith("application/fhir+json")
    assert request.key == str(delivery.idempotency_key)
    assert request.headers["X-Consortium-Event"] == "encounter"
    assert verify(
        city_endpoint.secret, request.headers["X-Consortium-Timestamp"], request.body, request.headers["X-Consortium-Signature"]
    )
    assert not verify(
        "another-secret-0123456789",
        request.headers["X-Consortium-Timestamp"],
        request.body,
        request.headers["X-Consortium-Signature"],
    )
    bundle = Bundle.model_validate(request.json)
    assert bundle.type == "message"
    types = [entry.resource.get_resource_type() for entry in bundle.entry]
    assert types[0] == "MessageHeader"
    assert {"Patient", "Encounter", "Condition", "Organization"} <= set(types) or {"Patient", "Encounter", "Organization"} <= set(
        types
    )
    assert request.event_id == str(event.pk)


def test_fhir_message_carries_diagnoses_and_charges(chain, city_endpoint, receiver):
    from tests.factories import ChargeItemFactory, DiagnosisFactory

    encounter, event = write_encounter(chain["township"])
    DiagnosisFactory(encounter=encounter)
    ChargeItemFactory(encounter=encounter)
    sync_sweep()
    bundle = Bundle.model_validate(receiver.received[0].json)
    types = [entry.resource.get_resource_type() for entry in bundle.entry]
    assert "Condition" in types and "ChargeItem" in types


def test_without_consent_a_peer_hospital_learns_nothing(chain, city_endpoint, receiver):
    _encounter, event = write_encounter(chain["township"], consents=False)
    sync_sweep()
    assert not Delivery.objects.filter(event=event).exists()
    assert OutboxEvent.objects.get(pk=event.pk).dispatched_at is not None
    assert receiver.received == []


def test_own_encounters_go_to_the_own_endpoint_without_consent(chain, city_endpoint, receiver):
    _encounter, event = write_encounter(chain["city"], consents=False)
    sync_sweep()
    assert Delivery.objects.get(event=event).status == DeliveryStatus.DELIVERED


def test_outsider_institution_events_are_not_pushed_to_the_consortium(chain, city_endpoint, receiver):
    _encounter, event = write_encounter(chain["outsider"])
    sync_sweep()
    assert not Delivery.objects.filter(event=event).exists()


def test_unsubscribed_event_types_and_inactive_endpoints_get_nothing(chain, receiver):
    referral_only = endpoints.register_endpoint(
        actor=SYSTEM, institution=chain["city"], name="referrals", url=receiver.url, events=["referral"]
    )
    _encounter, event = write_encounter(chain["township"])
    sync_sweep()
    assert not Delivery.objects.filter(event=event).exists()
    endpoints.deactivate_endpoint(actor=SYSTEM, endpoint=referral_only)


def test_failure_backs_off_then_dead_letters_then_replays(chain, city_endpoint, receiver, settings):
    settings.SYNC_MAX_ATTEMPTS = 2
    settings.SYNC_RETRY_BASE_SECONDS = 40.0
    receiver.fail_next(503, 500)
    _encounter, event = write_encounter(chain["township"])
    before = timezone.now()
    sync_sweep()

    delivery = Delivery.objects.get(event=event)
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert delivery.last_status_code == 503 and "503" in delivery.last_error
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert 19 <= wait <= 41  # half fixed, half jitter of the 40 s first back-off

    sync_sweep()  # not due yet: nothing is sent
    assert len(receiver.received) == 1

    make_due()
    sync_sweep()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DEAD and delivery.attempts == 2

    deliveries.replay_delivery(actor=chain["staff"]["hospital_admin"].user, delivery=delivery)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 0
    sync_sweep()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert len(set(receiver.keys())) == 1  # every try carried the same idempotency key
    assert AuditEvent.objects.filter(action="sync.delivery_replayed").exists()


def test_backoff_is_exponential_with_jitter_and_capped(settings):
    settings.SYNC_RETRY_BASE_SECONDS = 10.0
    settings.SYNC_RETRY_MAX_SECONDS = 100.0
    for attempts, full in ((1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (9, 100)):
        samples = [deliveries.backoff_seconds(attempts) for _ in range(50)]
        assert all(full / 2 <= s <= full for s in samples)
        assert len(set(samples)) > 1


def test_one_patients_events_keep_their_order_while_others_flow(chain, city_endpoint, receiver, settings):
    settings.SYNC_PARALLEL_POSTS = 1  # the receiver fails the first request it gets: make that the first event
    patient = PatientFactory(home_institution=chain["township"], consents_to_sharing=True)
    receiver.fail_next(500)
    _e1, first = write_encounter(chain["township"], patient=patient)
    _e2, second = write_encounter(chain["township"], patient=patient)
    _e3, other = write_encounter(chain["township"])
    sync_sweep()

    statuses = {d.event_id: d.status for d in Delivery.objects.all()}
    assert statuses[first.pk] == DeliveryStatus.PENDING
    assert statuses[second.pk] == DeliveryStatus.PENDING  # waits behind the failed first event
    assert statuses[other.pk] == DeliveryStatus.DELIVERED
    assert [r.event_id for r in receiver.received] == [str(first.pk), str(other.pk)]

    make_due()
    sync_sweep()
    patient_events = [r.event_id for r in receiver.deduped() if r.event_id in {str(first.pk), str(second.pk)}]
    assert patient_events == [str(first.pk), str(second.pk)]
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}


def test_a_hanging_receiver_times_out_and_is_retried(chain, city_endpoint, receiver, settings):
    settings.SYNC_DELIVERY_TIMEOUT = 0.5
    receiver.hang_next(3.0)
    _encounter, event = write_encounter(chain["township"])
    sync_sweep()
    delivery = Delivery.objects.get(event=event)
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert "timed out" in delivery.last_error.lower() or "timeout" in delivery.last_error.lower()
    receiver.release.set()
    make_due()
    sync_sweep()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED


def test_a_leased_delivery_is_not_sent_twice_and_an_expired_lease_is_reclaimed(chain, city_endpoint, receiver):
    _encounter, event = write_encounter(chain["township"])
    dispatch.dispatch_pending_events()
    delivery = Delivery.objects.get(event=event)
    [claimed] = deliveries.claim_due_deliveries(delivery.endpoint_id, limit=10)
    assert claimed.pk == delivery.pk and claimed.lease_token
    assert deliveries.claim_due_deliveries(delivery.endpoint_id, limit=10) == []
    sync_deliver_endpoint(delivery.endpoint_id)
    assert receiver.received == []
    Delivery.objects.filter(pk=delivery.pk).update(lease_until=timezone.now() - datetime.timedelta(seconds=1))
    sync_sweep()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.lease_token is None


def test_one_claim_takes_one_head_per_lane(chain, city_endpoint, receiver):
    patient = PatientFactory(home_institution=chain["township"], consents_to_sharing=True)
    first = write_encounter(chain["township"], patient=patient)[1]
    write_encounter(chain["township"], patient=patient)
    other = write_encounter(chain["township"])[1]
    dispatch.dispatch_pending_events()
    claimed = deliveries.claim_due_deliveries(city_endpoint.pk, limit=10)
    assert [d.event_id for d in claimed] == [first.pk, other.pk]


def test_retry_now_only_for_pending_and_replay_not_for_pending(chain, city_endpoint, receiver):
    from django.core.exceptions import ValidationError

    receiver.fail_next(500)
    _encounter, event = write_encounter(chain["township"])
    sync_sweep()
    delivery = Delivery.objects.get(event=event)
    with pytest.raises(ValidationError):
        deliveries.replay_delivery(actor=SYSTEM, delivery=delivery)
    deliveries.retry_delivery_now(actor=SYSTEM, delivery=delivery)
    sync_sweep()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    with pytest.raises(ValidationError):
        deliveries.retry_delivery_now(actor=SYSTEM, delivery=delivery)


def test_delivery_and_batch_tables_refuse_a_move_they_do_not_list():
    from django.core.exceptions import ValidationError
    from django.utils import translation

    from sync.models import InboundBatch, InboundBatchStatus

    with translation.override("en"):
        with pytest.raises(ValidationError) as refused:
            transitions.advance_delivery(Delivery(status=DeliveryStatus.DEAD), DeliveryStatus.DELIVERED)
        assert refused.value.messages == ["A Dead-lettered delivery cannot become Delivered."]
        with pytest.raises(ValidationError) as refused:
            transitions.advance_batch(InboundBatch(status=InboundBatchStatus.LANDED), InboundBatchStatus.PROCESSING)
        assert refused.value.messages == ["A Landed batch cannot become Processing."]
    batch = InboundBatch(status=InboundBatchStatus.RECEIVED)
    transitions.advance_batch(batch, InboundBatchStatus.PROCESSING)
    assert batch.status == InboundBatchStatus.PROCESSING


def test_referral_events_are_routed_and_built_in_a_fixed_number_of_queries(chain, city_endpoint):
    """Dispatch reads what referral events are about in bulk, not one referral (and its parties) per event."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from consortium.models import OutboxEventType
    from consortium.services import record_outbox_event
    from referrals.models import Direction, Referral, ReferralStatus
    from tests.factories import DepartmentFactory, EncounterFactory

    department = DepartmentFactory(institution=chain["city"], accepts_referrals=True)

    def referral_events(count: int) -> list:
        events = []
        for _ in range(count):
            patient = PatientFactory(home_institution=chain["township"])
            with transaction.atomic():
                referral = Referral.objects.create(
                    patient=patient,
                    direction=Direction.UP,
                    from_institution=chain["township"],
                    to_institution=chain["city"],
                    to_department=department,
                    source_encounter=EncounterFactory(patient=patient, institution=chain["township"]),
                    urgency="urgent",
                    reason="胸痛待查",
                    status=ReferralStatus.SUBMITTED,
                )
                events.append(
                    record_outbox_event(
                        event_type=OutboxEventType.REFERRAL, obj=referral, patient_id=patient.pk, institution=chain["township"]
                    )
                )
        return events

    def dispatch_queries(count: int) -> int:
        events = referral_events(count)
        with CaptureQueriesContext(connection) as queries:
            dispatch.dispatch_pending_events()
        assert Delivery.objects.filter(event__in=events).count() == count
        assert all(event.fhir["entry"] for event in OutboxEvent.objects.filter(pk__in=[e.pk for e in events]))
        return len(queries)

    assert dispatch_queries(6) == dispatch_queries(1)
