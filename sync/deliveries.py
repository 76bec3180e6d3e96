"""Deliveries: leases on lane heads, recording attempts, back-off, dead letters, and the operator's retry and replay.

Every state change locks the row it changes, checks the transition table, writes, and records an
audit event in one transaction.  Enqueueing Celery tasks happens on commit and is best-effort: the
database is the source of truth and the beat sweep re-enqueues anything a lost message or a dead
broker left behind.
"""

import datetime
import random
import uuid

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Min, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consortium.permissions import Action, require
from consortium.services import purge_outbox_messages, record_audit_event
from records.access import log_push_disclosures

from .audit import SyncAudit
from .conf import sync_setting
from .delivery import PostResult
from .enqueue import enqueue_endpoint
from .models import Delivery, DeliveryStatus, Endpoint
from .transitions import advance_delivery


def _kick_endpoint(endpoint_id: int) -> None:
    transaction.on_commit(lambda: enqueue_endpoint(endpoint_id), robust=True)


# --- one delivery attempt --------------------------------------------------------------------


def claim_due_deliveries(endpoint_id: int, *, limit: int) -> list[Delivery]:
    """Lease up to ``limit`` due lane heads of an endpoint, at most one per lane.

    Only the oldest pending delivery of a lane (its head) is ever claimed, and a lane whose head
    is leased or waiting for its back-off is skipped, so one patient's events go out in order
    while other patients' events flow past a failing one.

    The endpoint's pending deliveries are walked in event order (a partial index) and each is
    checked against the first pending event of its lane (an index probe), so a claim reads about as many
    rows as it takes instead of grouping every pending row by lane.  Rows another worker is
    claiming at the same moment are skipped (``SKIP LOCKED`` on PostgreSQL; SQLite serialises the
    claims), so concurrent claimers take different heads instead of queueing on the same ones.
    """
    now = timezone.now()
    unleased = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    # A correlated "first pending event of my lane" rather than NOT EXISTS: PostgreSQL plans it as one
    # probe of the lane index per row whatever its statistics say (a fresh table's made the anti-join scan).
    lane_head = (
        Delivery.objects.filter(endpoint_id=endpoint_id, lane=OuterRef("lane"), status=DeliveryStatus.PENDING)
        .order_by("event_id")
        .values("event_id")[:1]
    )
    due = (
        Delivery.objects.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .filter(unleased)
        .filter(event_id=Subquery(lane_head))
        .order_by("event_id")
    )
    token = uuid.uuid4()
    lease_until = now + datetime.timedelta(seconds=sync_setting("SYNC_LEASE_SECONDS"))
    with transaction.atomic():
        ids = list(due.select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.PENDING).filter(unleased).update(
            lease_until=lease_until, lease_token=token
        )
    return list(Delivery.objects.filter(pk__in=ids, lease_token=token).select_related("event", "endpoint").order_by("event_id"))


def renew_lease(token, *, seconds: float) -> tuple[int, datetime.datetime]:
    """Extend the lease of every still-pending delivery held under ``token``: ``(how many, new end)``.

    Only the holder's token is matched, so a lease another worker has taken over (possible only
    after this one let it expire) is never extended; a delivery recorded or cancelled meanwhile is
    no longer pending and drops out.  The new end is computed from a fresh clock before the UPDATE,
    so the holder's own idea of its lease is never later than what the database says.
    """
    lease_until = timezone.now() + datetime.timedelta(seconds=seconds)
    count = Delivery.objects.filter(lease_token=token, status=DeliveryStatus.PENDING).update(lease_until=lease_until)
    return count, lease_until


def lane_heads(queryset):
    """The deliveries of ``queryset`` that head their lane (the oldest pending event of each lane).

    Only a head can be claimed: the ones behind a failing head wait for it, whatever their own
    ``next_attempt_at`` says, so they must not count as due (that made the loop re-queue itself
    every second while the head was backing off).
    """
    pending = Delivery.objects.filter(status=DeliveryStatus.PENDING)
    heads = pending.filter(endpoint_id=OuterRef("endpoint_id"), lane=OuterRef("lane")).order_by("event_id").values("event_id")[:1]
    return queryset.filter(status=DeliveryStatus.PENDING, event_id=Subquery(heads))


def next_attempt_at(endpoint_id: int) -> datetime.datetime | None:
    """When the earliest unleased lane head of the endpoint becomes due (its back-off ends)."""
    now = timezone.now()
    return (
        lane_heads(Delivery.objects.filter(endpoint_id=endpoint_id))
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .aggregate(when=Min("next_attempt_at"))["when"]
    )


def count_active_claims(endpoint_id: int) -> int:
    """How many workers hold live leases on this endpoint's deliveries."""
    return (
        Delivery.objects.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING, lease_until__gt=timezone.now())
        .values("lease_token")
        .distinct()
        .count()
    )


def backoff_seconds(attempts: int) -> float:
    """Exponential back-off with jitter: half the doubled delay is fixed, half is random."""
    base = sync_setting("SYNC_RETRY_BASE_SECONDS")
    delay = min(sync_setting("SYNC_RETRY_MAX_SECONDS"), base * 2 ** max(attempts - 1, 0))
    return delay / 2 + random.uniform(0, delay / 2)


def _apply_failure(delivery: Delivery, result: PostResult, now) -> None:
    """A failed POST: back off for another try, or dead-letter after the last one."""
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = result.status_code
    delivery.lease_until = None
    delivery.lease_token = None
    delivery.last_error = result.error[:500]
    if delivery.attempts >= sync_setting("SYNC_MAX_ATTEMPTS"):
        advance_delivery(delivery, DeliveryStatus.DEAD)
    else:
        advance_delivery(delivery, DeliveryStatus.PENDING)
        delivery.next_attempt_at = now + datetime.timedelta(seconds=backoff_seconds(delivery.attempts))


def _log_disclosures(delivered: list[int]) -> None:
    """Each delivered push is a disclosure of the patient's data to the receiving institution (access log)."""
    rows = (
        Delivery.objects.filter(pk__in=delivered, event__patient_id__isnull=False)
        .values_list("event__patient_id", "endpoint__institution_id", "endpoint_id", "basis")
        .order_by("pk")
    )
    log_push_disclosures(
        (patient_id, institution_id, f"sync/endpoints/{endpoint_id}", basis)
        for patient_id, institution_id, endpoint_id, basis in rows
    )


def record_delivery_attempts(results: dict[int, PostResult]) -> int:
    """Record the outcome of a round of POSTs in one transaction: delivered, back-off, or dead-lettered.

    Successes are settled with one UPDATE per HTTP status; each failure gets its own back-off.
    A delivery replayed or settled meanwhile is left as it is.  Returns how many were delivered.
    """
    now = timezone.now()
    with transaction.atomic():
        pending = set(
            Delivery.objects.select_for_update()
            .filter(pk__in=results, status=DeliveryStatus.PENDING)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        succeeded: dict[int | None, list[int]] = {}
        for pk in pending:
            if results[pk].ok:
                succeeded.setdefault(results[pk].status_code, []).append(pk)
        for status_code, pks in succeeded.items():
            Delivery.objects.filter(pk__in=pks).update(
                status=DeliveryStatus.DELIVERED,
                attempts=F("attempts") + 1,
                last_attempt_at=now,
                last_status_code=status_code,
                delivered_at=now,
                last_error="",
                lease_until=None,
                lease_token=None,
            )
        for delivery in Delivery.objects.filter(pk__in=[pk for pk in pending if not results[pk].ok]):
            _apply_failure(delivery, results[delivery.pk], now)
            delivery.save()
        _purge_delivered_messages([pk for pks in succeeded.values() for pk in pks])
        # Last: the access log seals into the audit chain, whose head every worker's round locks till commit.
        _log_disclosures([pk for pks in succeeded.values() for pk in pks])
    return sum(len(pks) for pks in succeeded.values())


def _purge_delivered_messages(delivered: list[int]) -> None:
    """Drop the stored message of each event whose every delivery is now delivered (README, "Identifiers at rest")."""
    if not delivered:
        return
    events = set(Delivery.objects.filter(pk__in=delivered).values_list("event_id", flat=True))
    unsettled = set(
        Delivery.objects.filter(event_id__in=events).exclude(status=DeliveryStatus.DELIVERED).values_list("event_id", flat=True)
    )
    purge_outbox_messages(event_ids=events - unsettled)


# --- operator actions: retry now, replay -----------------------------------------------------


def retry_delivery_now(*, actor, delivery: Delivery) -> Delivery:
    """Skip the remaining back-off of a pending delivery."""
    require(actor, Action.MANAGE_SYNC, delivery.endpoint.institution_id)
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().select_related("endpoint").get(pk=delivery.pk)
        if delivery.status != DeliveryStatus.PENDING:
            raise ValidationError(
                _("Only a pending delivery can be retried; replay a dead or delivered one."), code="not_pending"
            )
        advance_delivery(delivery, DeliveryStatus.PENDING)
        delivery.next_attempt_at = timezone.now()
        delivery.save(update_fields=["status", "next_attempt_at"])
        record_audit_event(
            actor=actor, action=SyncAudit.DELIVERY_RETRIED, obj=delivery, institution=delivery.endpoint.institution
        )
        _kick_endpoint(delivery.endpoint_id)
    return delivery


def replay_delivery(*, actor, delivery: Delivery) -> Delivery:
    """Send a dead-lettered or delivered event again, with the same idempotency key."""
    require(actor, Action.MANAGE_SYNC, delivery.endpoint.institution_id)
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().select_related("endpoint").get(pk=delivery.pk)
        previous = delivery.status
        if previous == DeliveryStatus.PENDING:
            raise ValidationError(_("This delivery is still pending; retry it instead of replaying it."), code="pending")
        advance_delivery(delivery, DeliveryStatus.PENDING)
        delivery.attempts = 0
        delivery.next_attempt_at = timezone.now()
        delivery.delivered_at = None
        delivery.lease_until = None
        delivery.save(update_fields=["status", "attempts", "next_attempt_at", "delivered_at", "lease_until"])
        record_audit_event(
            actor=actor,
            action=SyncAudit.DELIVERY_REPLAYED,
            obj=delivery,
            institution=delivery.endpoint.institution,
            detail={"previous_status": previous},
        )
        _kick_endpoint(delivery.endpoint_id)
    return delivery


def replay_dead_deliveries(*, actor, endpoint: Endpoint) -> int:
    """Replay every dead-lettered delivery of an endpoint; returns how many."""
    require(actor, Action.MANAGE_SYNC, endpoint.institution_id)
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        dead = Delivery.objects.select_for_update().filter(endpoint=endpoint, status=DeliveryStatus.DEAD)
        count = dead.update(
            status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=timezone.now(), lease_until=None, delivered_at=None
        )
        record_audit_event(
            actor=actor,
            action=SyncAudit.ENDPOINT_REPLAYED_DEAD,
            obj=endpoint,
            institution=endpoint.institution,
            detail={"count": count},
        )
        _kick_endpoint(endpoint.pk)
    return count
