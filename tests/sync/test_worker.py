"""With a real Celery worker: a killed worker and a stopped Redis lose no event."""

import contextlib
import shutil
import socket
import subprocess
import time

import pytest
import redis

from config.celery import app
from consortium.permissions import SYSTEM
from sync import endpoints
from sync.enqueue import _enqueue
from sync.models import Delivery, DeliveryStatus
from sync.tasks import sync_sweep
from tests.factories import PatientFactory
from tests.live import WorkerProcess

from .conftest import write_encounter

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FAST = {"SYNC_LEASE_SECONDS": "3", "SYNC_RETRY_BASE_SECONDS": "1", "SYNC_RETRY_MAX_SECONDS": "2", "SYNC_DELIVERY_TIMEOUT": "5"}


def wait_for(predicate, timeout: float, nudge=None, every: float = 2.0) -> bool:
    """Poll ``predicate`` until true or ``timeout``; call ``nudge`` (e.g. a beat sweep) every ``every`` seconds."""
    deadline = time.monotonic() + timeout
    next_nudge = time.monotonic()
    while time.monotonic() < deadline:
        if predicate():
            return True
        if nudge and time.monotonic() >= next_nudge:
            nudge()
            next_nudge = time.monotonic() + every
        time.sleep(0.2)
    return predicate()


def all_delivered(count: int):
    return lambda: Delivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == count


def sweep():
    """What celery beat does every minute, sent through the broker to the worker."""
    _enqueue(sync_sweep.name)


@pytest.fixture
def endpoint(chain, receiver):
    return endpoints.register_endpoint(
        actor=SYSTEM,
        institution=chain["city"],
        name="HIS",
        url=receiver.url,
        events=["encounter"],
        secret="0123456789abcdef-secret",
    )


def test_a_killed_worker_loses_nothing_and_dedupe_gives_exactly_once(chain, receiver, endpoint):
    worker = WorkerProcess(extra_env=FAST).start()
    try:
        patients = [PatientFactory(home_institution=chain["township"], consents_to_sharing=True) for _ in range(3)]
        receiver.hang_next(30.0)  # the first push hangs: the worker will die in the middle of it
        events = [write_encounter(chain["township"], patient=patients[i % 3])[1] for i in range(9)]
        assert receiver.hanging.wait(30), "the worker never started delivering"
        worker.kill()
        receiver.release.set()
        worker = WorkerProcess(extra_env=FAST).start()
        assert wait_for(all_delivered(len(events)), timeout=90, nudge=sweep), list(
            Delivery.objects.values_list("status", "last_error")
        )
    finally:
        worker.stop()

    keys = {str(key) for key in Delivery.objects.values_list("idempotency_key", flat=True)}
    unique = receiver.deduped()
    assert {item.key for item in unique} == keys
    assert len(unique) == len(events)
    assert len(receiver.received) >= len(unique)  # the interrupted push may arrive twice; the key makes it once
    by_patient: dict[int, list[int]] = {}
    for item in unique:
        event_id = int(item.event_id)
        patient_id = next(e.patient_id for e in events if e.pk == event_id)
        by_patient.setdefault(patient_id, []).append(event_id)
    assert all(ids == sorted(ids) for ids in by_patient.values())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A throw-away redis-server on a free port: the shared Redis on 6379 is never touched."""

    def __init__(self):
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    return self
            time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@contextlib.contextmanager
def this_process_broker(url: str):
    """Point this process's Celery app at ``url`` (the worker gets it through REDIS_URL)."""
    saved = app.conf.broker_url, app.conf.broker_transport, app.conf.broker_transport_options

    def reset_pools():
        app._pool = None
        app.amqp._producer_pool = None

    app.conf.broker_url = url
    app.conf.broker_transport = None  # the URL's own (the embedded broker names its class)
    app.conf.broker_transport_options = {"visibility_timeout": 3600}
    reset_pools()
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.broker_transport, app.conf.broker_transport_options = saved
        reset_pools()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed (apt-get install redis-server)")
def test_stop_redis_write_start_redis_and_it_is_delivered(chain, receiver, endpoint):
    private = PrivateRedis().start()
    worker = None
    try:
        with this_process_broker(private.url):
            worker = WorkerProcess(extra_env={**FAST, "REDIS_URL": private.url}).start()
            write_encounter(chain["township"])
            assert wait_for(all_delivered(1), timeout=30, nudge=sweep)

            private.stop()
            started = time.monotonic()
            _encounter, event = write_encounter(chain["township"])  # the broker is down: the write must not wait for it
            assert time.monotonic() - started < 5
            time.sleep(1)
            assert not Delivery.objects.filter(event=event, status=DeliveryStatus.DELIVERED).exists()

            private.start()
            assert wait_for(all_delivered(2), timeout=90, nudge=sweep), list(Delivery.objects.values_list("status", "last_error"))
    finally:
        if worker:
            worker.stop()
        private.stop()
    assert len(receiver.deduped()) == 2


def test_an_uploaded_batch_is_landed_by_the_worker(chain, client, member_token):
    import json

    from records.models import Encounter
    from sync.models import InboundBatch

    from .test_ingest import visit

    worker = WorkerProcess(extra_env=FAST).start()
    try:
        content = json.dumps({"batch_id": "W1", "visits": [visit(n) for n in range(25)]}, ensure_ascii=False)
        response = client.post(
            "/api/v1/sync/batches/", data=content, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {member_token}"
        )
        assert response.status_code == 202
        status_url = response.json()["status_url"]
        landed = lambda: InboundBatch.objects.filter(status="landed").exists()  # noqa: E731
        assert wait_for(landed, timeout=60, nudge=sweep, every=10), InboundBatch.objects.values_list("status", "failure_reason")
        status = client.get(status_url, HTTP_AUTHORIZATION=f"Bearer {member_token}").json()
        assert status["rows_landed"] == 25 and status["rows_failed"] == 0
        assert Encounter.objects.count() == 25
    finally:
        worker.stop()
