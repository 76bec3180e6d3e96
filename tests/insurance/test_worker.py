"""Claim batching and the nightly reconciliation run in a real Celery worker."""

import io
import time

import pytest

from config.celery import app
from consortium.permissions import SYSTEM
from insurance import services
from insurance.models import Claim, ClaimStatus, ReconciliationRun
from insurance.tasks import batch_draft_claims, reconcile_pending_files

from .test_reconciliation import crafted_file

pytestmark = pytest.mark.worker


def wait_for(predicate, worker, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(worker.log_path.read_text(errors="replace")[-3000:])


def test_beat_tasks_in_a_real_worker(chain, visit, celery_worker_process):
    claims = [services.create_claim(encounter=visit(), actor=SYSTEM) for _ in range(7)]
    app.send_task(batch_draft_claims.name)  # the project's app, whatever another test made current
    wait_for(lambda: not Claim.objects.filter(status=ClaimStatus.DRAFT).exists(), celery_worker_process)
    decisions = [services.Adjudication(c.number, "approved", None, []) for c in claims]
    services.adjudicate_claims(claims_queryset=Claim.objects.all(), decisions=decisions, actor=SYSTEM)
    services.store_settlement_file(
        office=chain["office"],
        period="2026-03",
        upload=io.BytesIO(crafted_file(claims).encode()),
        file_name="s.csv",
        encoding="utf-8",
        actor=SYSTEM,
    )
    app.send_task(reconcile_pending_files.name)
    wait_for(
        lambda: ReconciliationRun.objects.filter(institution=chain["township"], status="finished").exists(), celery_worker_process
    )
    run = ReconciliationRun.objects.get(institution=chain["township"])
    assert run.discrepancies.filter(kind="matched").count() == 2
