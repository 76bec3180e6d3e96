"""Celery tasks of the sync subsystem (imported by ``consortium.tasks`` for autodiscovery)."""

import logging

from celery import shared_task
from django.utils import timezone
from kombu.exceptions import OperationalError

from ..models import DeliveryStatus
from . import selectors, services
from .conf import sync_setting
from .delivery import canonical_body, post

logger = logging.getLogger(__name__)


#: Reconnect once or twice (a restarted broker), but never keep a request waiting on a dead one.
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def _enqueue(task, *args, countdown: float | None = None) -> bool:
    """Publish a task without waiting for a down broker: the beat sweep re-enqueues what is lost here."""
    from consortium.celery import app

    if countdown and app.conf.task_always_eager:
        return False  # eager mode cannot wait; the sweep picks the work up when it is due
    try:
        task.apply_async(args=args, countdown=countdown, retry=True, retry_policy=_PUBLISH_RETRY)
    except (OperationalError, OSError) as exc:
        logger.warning("sync: could not enqueue %s (%s); the sweep will pick it up", task.name, type(exc).__name__)
        return False
    return True


def enqueue_dispatch() -> bool:
    return _enqueue(sync_dispatch_outbox)


def enqueue_lane(endpoint_id: int, lane: str, countdown: float | None = None) -> bool:
    return _enqueue(sync_deliver_lane, endpoint_id, lane, countdown=countdown)


def enqueue_batch(batch_id: int) -> bool:
    return _enqueue(sync_land_batch, batch_id)


@shared_task
def sync_dispatch_outbox():
    """Fan new outbox events out into deliveries and start their lanes."""
    for _round in range(100):
        lanes = services.dispatch_pending_events()
        if not lanes:
            break
        for endpoint_id, lane in sorted(lanes):
            enqueue_lane(endpoint_id, lane)


@shared_task
def sync_deliver_lane(endpoint_id: int, lane: str):
    """Send the pending deliveries of one lane in order, stopping at the first failure."""
    for _step in range(sync_setting("SYNC_LANE_BATCH")):
        delivery, wait_until = services.claim_lane_head(endpoint_id, lane)
        if delivery is None:
            if wait_until is not None:
                enqueue_lane(endpoint_id, lane, countdown=max(0.0, (wait_until - timezone.now()).total_seconds()))
            return
        endpoint, event = delivery.endpoint, delivery.event
        result = post(
            url=endpoint.url,
            secret=endpoint.secret,
            event_type=event.event_type,
            idempotency_key=str(delivery.idempotency_key),
            body=canonical_body(event.fhir or {}),
            timeout=sync_setting("SYNC_DELIVERY_TIMEOUT"),
        )
        delivery = services.delivery_record_attempt(delivery_id=delivery.pk, result=result)
        if not result.ok:
            logger.info(
                "sync: delivery %s to endpoint %s failed (attempt %s): %s",
                delivery.pk,
                endpoint_id,
                delivery.attempts,
                result.error,
            )
            if delivery.status == DeliveryStatus.PENDING:
                enqueue_lane(endpoint_id, lane, countdown=(delivery.next_attempt_at - timezone.now()).total_seconds())
                return
    enqueue_lane(endpoint_id, lane)


@shared_task
def sync_land_batch(batch_id: int):
    services.batch_land(batch_id=batch_id)


@shared_task
def sync_sweep():
    """Beat: dispatch what was never dispatched, re-enqueue due lanes and stalled batches.

    This is what makes a stopped broker or a killed worker lose nothing: the outbox and the
    delivery rows are the truth, messages are only a nudge.
    """
    sync_dispatch_outbox()
    lanes = selectors.due_lanes(limit=sync_setting("SYNC_SWEEP_LIMIT"))
    for endpoint_id, lane in lanes:
        enqueue_lane(endpoint_id, lane)
    batches = selectors.stalled_batch_ids()
    for batch_id in batches:
        enqueue_batch(batch_id)
    return {"lanes": len(lanes), "batches": len(batches)}
