"""Delivery leases are renewed while a round is in flight: a round far longer than the lease keeps it.

The first test runs in this process (one round of POSTs to a slow receiver, then a second claim);
the second starts two real Celery worker processes against a slow loopback receiver and counts,
per idempotency key, what arrived: every delivery exactly once, none lost, none duplicated.
"""

import datetime
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import transaction
from django.utils import timezone

from sync import deliveries, dispatch, sending
from sync.models import Delivery, DeliveryStatus
from tests.factories import PatientFactory
from tests.live import WorkerProcess

from .conftest import write_encounter
from .test_worker import sweep, wait_for

LEASE = 2.0


@pytest.mark.django_db  # nothing commits: only the explicit dispatch, claim and round below run
@pytest.mark.usefixtures("eager")
def test_a_round_longer_than_the_lease_keeps_its_lease(chain, receiver, city_endpoint, settings):
    settings.SYNC_LEASE_SECONDS = 1.0
    settings.SYNC_PARALLEL_POSTS = 2
    receiver.slow_down(0.3)
    for _ in range(12):
        write_encounter(chain["township"])
    dispatch.dispatch_pending_events()
    batch = deliveries.claim_due_deliveries(city_endpoint.pk, limit=50)
    assert len(batch) == 12
    claimed_until = max(delivery.lease_until for delivery in batch)
    with ThreadPoolExecutor(max_workers=2) as pool:
        started = time.monotonic()
        results = sending.send_round(pool, city_endpoint.pk, batch)
        took = time.monotonic() - started

    assert took > 1.5 * settings.SYNC_LEASE_SECONDS  # 6 turns of 0.3 s: the first lease ran out long ago
    assert timezone.now() > claimed_until
    assert len(results) == 12 and all(result.ok for result in results.values())
    # Still held under the round's token, with a renewed end, and nobody else can claim them.
    held = Delivery.objects.filter(pk__in=results, lease_token=batch[0].lease_token, status=DeliveryStatus.PENDING)
    assert held.count() == 12
    assert all(until > timezone.now() for until in held.values_list("lease_until", flat=True))
    assert deliveries.claim_due_deliveries(city_endpoint.pk, limit=50) == []
    assert deliveries.record_delivery_attempts(results) == 12
    assert Counter(receiver.keys()) == Counter({str(d.idempotency_key): 1 for d in batch})


@pytest.mark.django_db
@pytest.mark.usefixtures("eager")
def test_a_round_whose_lease_was_taken_over_sends_nothing_more(chain, receiver, city_endpoint, settings):
    settings.SYNC_LEASE_SECONDS = 1.0
    for _ in range(3):
        write_encounter(chain["township"])
    dispatch.dispatch_pending_events()
    batch = deliveries.claim_due_deliveries(city_endpoint.pk, limit=50)
    # The holder stalled past its lease and another worker took the deliveries over.
    Delivery.objects.filter(pk__in=[d.pk for d in batch]).update(lease_token=uuid.uuid4())
    for delivery in batch:
        delivery.lease_until = timezone.now() - datetime.timedelta(seconds=1)
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert sending.send_round(pool, city_endpoint.pk, batch) == {}
    assert receiver.received == []


def test_the_post_timeout_is_shorter_than_the_lease(settings):
    settings.SYNC_LEASE_SECONDS = 2.0
    settings.SYNC_DELIVERY_TIMEOUT = 10.0
    assert sending.post_timeout() == 1.0
    settings.SYNC_DELIVERY_TIMEOUT = 0.5
    assert sending.post_timeout() == 0.5


SLOW = {
    "SYNC_LEASE_SECONDS": str(LEASE),
    "SYNC_DELIVERY_TIMEOUT": "1.5",  # capped at half the lease
    "SYNC_PARALLEL_POSTS": "2",
    "SYNC_DELIVERY_BATCH": "50",
    "SYNC_ENDPOINT_CONCURRENCY": "2",
    "SYNC_RETRY_BASE_SECONDS": "1",
    "SYNC_RETRY_MAX_SECONDS": "2",
}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_two_workers_and_a_slow_receiver_deliver_each_push_exactly_once(chain, receiver, city_endpoint):
    """120 deliveries in 80 lanes; a round of 50 POSTs, two at a time, 0.4 s each, lasts five leases."""
    receiver.slow_down(0.4)
    workers = []
    try:
        # Both up first (a solo worker busy with a task answers no ping), then every event in one commit.
        workers = [WorkerProcess(extra_env=SLOW).start() for _ in range(2)]
        with transaction.atomic():
            twice = [PatientFactory(home_institution=chain["township"], consents_to_sharing=True) for _ in range(40)]
            events = [write_encounter(chain["township"], patient=patient)[1] for patient in twice]
            events += [write_encounter(chain["township"])[1] for _ in range(40)]
            events += [write_encounter(chain["township"], patient=patient)[1] for patient in twice]
        delivered = lambda: Delivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == len(events)  # noqa: E731
        assert wait_for(delivered, timeout=150, nudge=sweep, every=1.0), Counter(
            Delivery.objects.values_list("status", flat=True)
        )
        time.sleep(2 * LEASE)  # anything a second worker would still re-send has time to arrive
    finally:
        for worker in workers:
            worker.stop()

    keys = {str(key) for key in Delivery.objects.values_list("idempotency_key", flat=True)}
    arrived = Counter(receiver.keys())
    duplicated = {key: count for key, count in arrived.items() if count > 1}
    print(f"sent {len(events)} / arrived {len(arrived)} / duplicated {sum(arrived.values()) - len(arrived)}")
    assert duplicated == {}
    assert set(arrived) == keys and len(keys) == len(events)
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}  # no POST failed or timed out
    assert receiver.max_in_flight > 2, "the two workers never sent at the same time"
    order: dict[int, list[int]] = {}
    patient_of = {event.pk: event.patient_id for event in events}
    for item in receiver.deduped():
        order.setdefault(patient_of[int(item.event_id)], []).append(int(item.event_id))
    assert all(ids == sorted(ids) for ids in order.values())
