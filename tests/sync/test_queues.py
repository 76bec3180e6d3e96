"""Queues by workload, their depths on /healthz, and coalesced dispatch.

A push never waits behind a roll-up: each kind of work has its own queue (settings'
``CELERY_TASK_ROUTES``).  Dispatch is coalesced: however many commits record outbox events while a
dispatch task waits, one task is queued, so a batch uploaded right after seeding is not stuck
behind hundreds of dispatch tasks.
"""

import json
import time

import pytest
from django.conf import settings

from config.celery import app
from config.health import queue_depths
from sync import tasks  # noqa: F401  (registers sync's tasks on the app)
from sync.enqueue import enqueue_dispatch, release_dispatch
from sync.models import InboundBatch, InboundBatchStatus
from tests.live import WorkerProcess

from .test_ingest import URL, visit


def depths() -> dict[str, int]:
    with app.connection_for_write() as conn:
        return queue_depths(conn)


def empty_queues() -> None:
    with app.connection_for_write() as conn:
        for name in settings.CELERY_QUEUES_BY_WORKLOAD:
            conn.default_channel.queue_purge(name)
    release_dispatch()


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("sync.tasks.sync_dispatch_outbox", "pushes"),
        ("sync.tasks.sync_deliver_endpoint", "pushes"),
        ("sync.tasks.sync_land_batch", "inbound"),
        ("dashboard.tasks.rollup_indicators", "reports"),
        ("dashboard.tasks.recompute_expenditure_warnings", "reports"),
        ("insurance.tasks.reconcile_pending_files", "reports"),
        ("insurance.tasks.batch_draft_claims", "reports"),
        ("referrals.tasks.escalate_overdue_referrals", "notifications"),
        ("referrals.tasks.escalate_overdue_follow_ups", "notifications"),
        ("sync.tasks.sync_sweep", "celery"),
        ("config.tasks.clear_expired_sessions", "celery"),
    ],
)
def test_each_task_goes_to_the_queue_of_its_workload(task, queue):
    assert app.amqp.router.route({}, task)["queue"].name == queue


def test_every_scheduled_task_has_a_declared_queue():
    declared = {queue.name for queue in app.conf.task_queues}
    assert declared == set(settings.CELERY_QUEUES_BY_WORKLOAD)
    for entry in app.conf.beat_schedule.values():
        assert app.amqp.router.route({}, entry["task"])["queue"].name in declared


def test_many_dispatch_requests_queue_one_task_until_it_starts():
    empty_queues()
    try:
        for _ in range(25):
            enqueue_dispatch()
        assert depths()["pushes"] == 1
        release_dispatch()  # what the task does first when a worker starts it
        enqueue_dispatch()
        assert depths()["pushes"] == 2
    finally:
        empty_queues()


@pytest.mark.django_db
def test_healthz_reports_the_depth_of_every_queue(client, settings):
    settings.HEALTHZ_WORKER_TIMEOUT = 0.1
    empty_queues()
    try:
        enqueue_dispatch()
        body = client.get("/healthz").json()
        assert set(body["broker"]["queues"]) == set(settings.CELERY_QUEUES_BY_WORKLOAD)
        assert body["broker"]["queues"]["pushes"] == 1 and body["broker"]["queues"]["inbound"] == 0
    finally:
        empty_queues()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_batch_uploaded_right_after_seeding_lands_within_ten_seconds(client):
    """What ``make demo`` does, then a clinic's HIS uploads: seeding queues one dispatch, not hundreds."""
    from config.demo import seed_demo_consortium
    from consortium.models import ApiClient, ApiClientKind, Institution, OutboxEvent

    empty_queues()
    seed_demo_consortium()
    assert OutboxEvent.objects.filter(dispatched_at__isnull=True).count() > 50
    assert depths()["pushes"] <= 1
    township = Institution.objects.filter(level="township_health_centre").order_by("code").first()
    his = ApiClient(name="镇卫生院 HIS", kind=ApiClientKind.MEMBER_SYSTEM, institution=township)
    token = his.issue_token()
    his.save()
    worker = WorkerProcess().start()
    try:
        content = json.dumps({"batch_id": "AFTER-SEED", "visits": [visit(n) for n in range(20)]}, ensure_ascii=False)
        started = time.monotonic()
        response = client.post(URL, data=content, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 202, response.json()
        while time.monotonic() - started < 10 and not InboundBatch.objects.filter(status=InboundBatchStatus.LANDED).exists():
            time.sleep(0.1)
        batch = InboundBatch.objects.get()
        assert batch.status == InboundBatchStatus.LANDED, (batch.status, round(time.monotonic() - started, 1))
        assert batch.rows_landed == 20
    finally:
        worker.stop()
        empty_queues()


@pytest.mark.django_db(transaction=True)
def test_in_eager_mode_a_dispatch_runs_whatever_mark_a_queued_one_left(chain, receiver, eager):
    """Eager mode runs the task inline, so a mark left by a message nobody consumed cannot hold it back."""
    from consortium.permissions import SYSTEM
    from sync import endpoints
    from sync.enqueue import _mark_dispatch
    from sync.models import Delivery

    from .conftest import write_encounter

    empty_queues()
    app.conf.task_always_eager = False
    assert _mark_dispatch()  # a dispatch published earlier, still waiting for a worker
    app.conf.task_always_eager = True
    try:
        endpoints.register_endpoint(
            actor=SYSTEM, institution=chain["city"], name="HIS", url=receiver.url, events=["encounter"], secret="s" * 20
        )
        write_encounter(chain["township"])
        assert Delivery.objects.get().status == "delivered"
    finally:
        empty_queues()


def test_a_web_process_can_publish_every_task_by_name(tmp_path):
    """A process that is not a worker (gunicorn, runserver) has imported no tasks module of its own."""
    from tests.test_settings import run_python

    code = (
        "import django; django.setup(); from consortium.tasking import project_celery_app; app = project_celery_app(); "
        "names = ['sync.tasks.sync_dispatch_outbox', 'sync.tasks.sync_land_batch', 'sync.tasks.sync_deliver_endpoint', "
        "'dashboard.tasks.rollup_indicators', 'insurance.tasks.reconcile_pending_files', "
        "'referrals.tasks.escalate_overdue_referrals']; print(sorted(n for n in names if n not in app.tasks))"
    )
    result = run_python(code, tmp_path, STORAGE_URL="", S3_BUCKET="")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
