"""Inbound batch bodies live in the platform's storage: the web stores them, any worker streams them back.

Each test runs on the filesystem storage and on a real S3-compatible server (moto on 127.0.0.1).  The
worker test gives the worker a ``var/`` of its own, as a second machine would have: only the storage,
the database and the broker are shared.
"""

import json
import time

import pytest
from django.conf import settings

from consortium import storage
from records.models import Encounter
from sync import batches, tasks  # noqa: F401  (tasks: registers the landing task on the app)
from sync.models import InboundBatch, InboundBatchStatus
from tests.live import WorkerProcess

from .test_ingest import URL, visit

FAST = {"SYNC_LEASE_SECONDS": "3", "SYNC_RETRY_BASE_SECONDS": "1", "SYNC_RETRY_MAX_SECONDS": "2"}


def upload(client, token, batch_id: str, count: int, content: str | None = None):
    content = content or json.dumps({"batch_id": batch_id, "visits": [visit(n) for n in range(count)]}, ensure_ascii=False)
    response = client.post(URL, data=content, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    response.content_sent = content
    return response


def scratch_files() -> list:
    return list((settings.VAR_DIR / "sync" / "inbound").glob("*"))


@pytest.mark.django_db
def test_a_batch_body_is_stored_streamed_back_to_land_and_removed(file_storage, chain, client, member_token):
    response = upload(client, member_token, "S1", 30)
    assert response.status_code == 202, response.json()
    batch = InboundBatch.objects.get()
    assert batch.body_path.startswith(f"sync/inbound/{chain['township'].pk}/") and storage.exists(batch.body_path)
    assert scratch_files() == []  # the request's scratch file is gone: only the storage holds the body
    with storage.open_stream(batch.body_path) as body:
        assert json.loads(body.read())["batch_id"] == "S1"
    landed = batches.land_batch(batch_id=batch.pk)
    assert landed.status == InboundBatchStatus.LANDED and landed.rows_landed == 30
    assert not storage.exists(batch.body_path)
    again = upload(client, member_token, "S1", 30, content=response.content_sent)  # the same body: the same batch
    assert again.status_code == 200 and InboundBatch.objects.count() == 1


@pytest.mark.django_db
def test_a_body_missing_from_the_storage_fails_the_batch_with_the_reason(file_storage, chain, client, member_token):
    response = upload(client, member_token, "S2", 3)
    batch = InboundBatch.objects.get(pk=response.json()["id"])
    storage.delete(batch.body_path)
    failed = batches.land_batch(batch_id=batch.pk)
    assert failed.status == InboundBatchStatus.FAILED and "丢失" in failed.failure_reason
    assert not Encounter.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_with_its_own_var_lands_what_the_web_stored(file_storage, request, chain, client, member_token, tmp_path):
    if file_storage == "filesystem":
        pytest.skip("two machines share no filesystem storage; the S3 case is the one that matters here")
    worker_var = tmp_path / "worker-var"
    env = {**FAST, **request.node.storage_env, "CONSORTIUM_VAR_DIR": str(worker_var)}
    worker = WorkerProcess(extra_env=env).start()
    try:
        response = upload(client, member_token, "W2", 40)
        assert response.status_code == 202
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not InboundBatch.objects.filter(status=InboundBatchStatus.LANDED).exists():
            time.sleep(0.2)
        batch = InboundBatch.objects.get()
        assert batch.status == InboundBatchStatus.LANDED, (batch.status, batch.failure_reason)
        assert batch.rows_landed == 40 and Encounter.objects.count() == 40
        # the worker removes the body just after the landing commits: give it a moment, bounded
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and storage.exists(batch.body_path):
            time.sleep(0.2)
        assert not storage.exists(batch.body_path)
        assert not (worker_var / "sync" / "inbound").exists() or not list((worker_var / "sync" / "inbound").iterdir())
    finally:
        worker.stop()


@pytest.mark.django_db(transaction=True)
def test_migration_moves_unlanded_bodies_from_var_into_the_storage(file_storage):
    """A body a batch received before the storage existed (under var/sync/inbound) is moved into it."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("sync", "0001_initial")]
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    old = MigrationExecutor(connection).loader.project_state(before).apps
    clinic = old.get_model("consortium", "Institution").objects.create(
        code="MIG002", name="迁移测试卫生院", level="township_health_centre", region_code="420525"
    )
    legacy = settings.VAR_DIR / "sync" / "inbound" / "batch-legacy-0001.json"
    legacy.parent.mkdir(parents=True, exist_ok=True)
    legacy.write_bytes(b'{"batch_id": "L1", "visits": []}')
    Batch = old.get_model("sync", "InboundBatch")
    waiting = Batch.objects.create(institution=clinic, client_batch_id="L1", body_path="sync/inbound/batch-legacy-0001.json")
    done = Batch.objects.create(institution=clinic, client_batch_id="L0", body_path="sync/inbound/gone.json", status="landed")
    MigrationExecutor(connection).migrate(latest)
    moved = InboundBatch.objects.get(pk=waiting.pk)
    assert moved.body_path.startswith(f"sync/inbound/{clinic.pk}/") and not legacy.exists()
    with storage.open_stream(moved.body_path) as body:
        assert body.read() == b'{"batch_id": "L1", "visits": []}'
    assert InboundBatch.objects.get(pk=done.pk).body_path == "sync/inbound/gone.json"
