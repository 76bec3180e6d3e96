"""A failing endpoint backs off: a few tasks a minute, never a busy re-queue (#14, item 11).

Celery is replaced by a simulated queue with a simulated clock: every publish is recorded with its
countdown and run when the clock reaches it, the beat sweep runs each minute, and the endpoint is
a real HTTP receiver on 127.0.0.1 that answers 503 to everything.
"""

import datetime
import heapq

import pytest
from django.utils import timezone

from sync import dispatch, enqueue, selectors
from sync.models import Delivery, DeliveryStatus
from sync.tasks import sync_deliver_endpoint
from tests.factories import PatientFactory

from .conftest import write_encounter

pytestmark = pytest.mark.django_db

MINUTES = 5


def test_a_failing_endpoint_costs_a_few_tasks_per_minute(chain, city_endpoint, receiver, settings, monkeypatch):
    settings.SYNC_RETRY_BASE_SECONDS = 30.0
    settings.SYNC_MAX_ATTEMPTS = 50
    receiver.fail_next(*([503] * 500))
    patient = PatientFactory(home_institution=chain["township"], consents_to_sharing=True)
    for _ in range(4):  # one lane: three deliveries wait behind a failing head
        write_encounter(chain["township"], patient=patient)
    write_encounter(chain["township"])  # another lane
    dispatch.dispatch_round(limit=100)
    assert Delivery.objects.filter(endpoint=city_endpoint, status=DeliveryStatus.PENDING).count() == 5

    start = timezone.now()
    clock = [start]
    monkeypatch.setattr(timezone, "now", lambda: clock[0])
    queue: list = []
    order = [0]

    def publish(task_name, *args, countdown=None):
        assert task_name == "sync.tasks.sync_deliver_endpoint"
        order[0] += 1
        heapq.heappush(queue, (clock[0] + datetime.timedelta(seconds=countdown or 0), order[0], args))
        return True

    monkeypatch.setattr(enqueue, "_enqueue", publish)
    runs: list[datetime.datetime] = []
    for minute in range(MINUTES):
        sweep_at = start + datetime.timedelta(minutes=minute)
        clock[0] = max(clock[0], sweep_at)
        for endpoint_id in selectors.endpoints_with_due_deliveries():  # the beat sweep's start, two copies each
            publish("sync.tasks.sync_deliver_endpoint", endpoint_id)
            publish("sync.tasks.sync_deliver_endpoint", endpoint_id)
        end = sweep_at + datetime.timedelta(minutes=1)
        while queue and queue[0][0] < end:
            due, _n, args = heapq.heappop(queue)
            clock[0] = max(clock[0], due)
            sync_deliver_endpoint.run(*args)
            runs.append(clock[0])
            assert len(runs) < 200, "busy re-queue"
    per_minute = len(runs) / MINUTES
    assert per_minute <= 12, f"{per_minute:.1f} tasks a minute"
    heads = Delivery.objects.filter(endpoint=city_endpoint, status=DeliveryStatus.PENDING, attempts__gt=0)
    assert heads.count() == 2, "only the two lane heads were tried; the rest wait behind theirs"
    assert all(d.attempts >= 2 for d in heads), "and they were retried after their back-off"
    assert len(receiver.received) == sum(d.attempts for d in heads)


def test_an_idle_endpoint_gets_one_wake_up_however_many_tasks_find_it_idle(chain, city_endpoint, settings, monkeypatch):
    published = []
    monkeypatch.setattr(enqueue, "_enqueue", lambda name, *args, countdown=None: published.append((args, countdown)) or True)
    enqueue.release_endpoint_wakeup(city_endpoint.pk)
    assert enqueue.schedule_endpoint_wakeup(city_endpoint.pk, countdown=20)
    assert not enqueue.schedule_endpoint_wakeup(city_endpoint.pk, countdown=5)
    enqueue.release_endpoint_wakeup(city_endpoint.pk)  # what the woken task does first
    assert enqueue.schedule_endpoint_wakeup(city_endpoint.pk, countdown=5)
    assert published == [((city_endpoint.pk, True), 20), ((city_endpoint.pk, True), 5)]
    enqueue.release_endpoint_wakeup(city_endpoint.pk)
