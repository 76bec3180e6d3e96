"""Celery tasks of the sync subsystem (found by Celery's autodiscovery)."""

import logging
import time
from concurrent.futures import ThreadPoolExecutor

from celery import shared_task
from django.utils import timezone

from consortium.tasking import project_celery_app

from . import batches, deliveries, dispatch, selectors, sending
from .conf import sync_setting
from .enqueue import (
    enqueue_batch,
    enqueue_endpoint,
    release_dispatch,
    release_endpoint_wakeup,
    schedule_endpoint_wakeup,
)

logger = logging.getLogger(__name__)


def _start_endpoints(endpoint_ids) -> None:
    """Start up to SYNC_ENDPOINT_CONCURRENCY tasks per endpoint; extra ones exit at once."""
    app = project_celery_app()

    copies = 1 if app.conf.task_always_eager else sync_setting("SYNC_ENDPOINT_CONCURRENCY")
    for endpoint_id in sorted(endpoint_ids):
        for _copy in range(copies):
            enqueue_endpoint(endpoint_id)


@shared_task
def sync_dispatch_outbox():
    """Fan new outbox events out into deliveries and start their endpoints.

    The pending mark is cleared first, so an event committed from here on publishes a fresh
    task, while everything committed before is dispatched by this one (``enqueue.enqueue_dispatch``).
    """
    release_dispatch()
    limit = 500
    for _round in range(100):
        count, started = dispatch.dispatch_round(limit=limit)
        # Each round's endpoints start at once, so pushes go out while the rest is dispatched
        # (a delivery task finding enough workers on its endpoint exits at once).
        _start_endpoints(started)
        if count < limit:
            break


@shared_task
def sync_deliver_endpoint(endpoint_id: int, wake: bool = False):
    """Push an endpoint's due deliveries: claim lane heads, POST them in parallel, record, repeat.

    Runs for at most SYNC_TASK_BUDGET_SECONDS, then hands over to a fresh task; when only
    backed-off deliveries remain, one wake-up is scheduled for the earliest of them (however many
    tasks find the endpoint idle), so a failing endpoint costs a task per back-off, not a busy loop.
    """
    app = project_celery_app()

    if wake:
        release_endpoint_wakeup(endpoint_id)
    if deliveries.count_active_claims(endpoint_id) >= sync_setting("SYNC_ENDPOINT_CONCURRENCY"):
        return
    deadline = time.monotonic() + sync_setting("SYNC_TASK_BUDGET_SECONDS")
    with ThreadPoolExecutor(max_workers=sync_setting("SYNC_PARALLEL_POSTS")) as pool:
        while time.monotonic() < deadline:
            batch = deliveries.claim_due_deliveries(endpoint_id, limit=sync_setting("SYNC_DELIVERY_BATCH"))
            if not batch:
                when = deliveries.next_attempt_at(endpoint_id)
                if when is not None:
                    schedule_endpoint_wakeup(endpoint_id, countdown=max(1.0, (when - timezone.now()).total_seconds()))
                return
            results = sending.send_round(pool, endpoint_id, batch)
            deliveries.record_delivery_attempts(results)
            for pk, result in results.items():
                if not result.ok:
                    logger.info("sync: delivery %s to endpoint %s failed: %s", pk, endpoint_id, result.error)
    if not app.conf.task_always_eager:
        enqueue_endpoint(endpoint_id)


@shared_task
def sync_land_batch(batch_id: int):
    batches.land_batch(batch_id=batch_id)


@shared_task
def sync_sweep():
    """Beat: dispatch what was never dispatched, re-enqueue due lanes and stalled batches.

    This is what makes a stopped broker or a killed worker lose nothing: the outbox and the
    delivery rows are the truth, messages are only a nudge.
    """
    sync_dispatch_outbox()
    endpoints = selectors.endpoints_with_due_deliveries()
    _start_endpoints(endpoints)
    batches = selectors.stalled_batch_ids()
    for batch_id in batches:
        enqueue_batch(batch_id)
    return {"endpoints": len(endpoints), "batches": len(batches)}
