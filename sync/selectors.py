"""Reads of the sync subsystem: what is due, and the monitor's per-institution view."""

import datetime

from django.db.models import Count, Max, Q
from django.utils import timezone

from consortium.models import Institution
from consortium.permissions import Action, institution_ids_for, scope

from .models import Delivery, DeliveryStatus, Endpoint, InboundBatch, InboundBatchStatus


def endpoints_with_due_deliveries() -> list[int]:
    """Endpoints with a lane head that is due (back-off over) and not leased by a live worker."""
    from .deliveries import lane_heads

    now = timezone.now()
    return list(
        lane_heads(Delivery.objects.filter(next_attempt_at__lte=now))
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .order_by()
        .values_list("endpoint_id", flat=True)
        .distinct()
    )


def stalled_batch_ids(*, received_grace: float = 30.0) -> list[int]:
    """Batches whose landing message was lost (still received) or whose worker died (lease expired)."""
    now = timezone.now()
    return list(
        InboundBatch.objects.filter(
            Q(status=InboundBatchStatus.RECEIVED, received_at__lte=now - datetime.timedelta(seconds=received_grace))
            | Q(status=InboundBatchStatus.PROCESSING, lease_until__lte=now)
        ).values_list("pk", flat=True)[:100]
    )


def endpoints_visible_to(user):
    return scope(Endpoint.objects.select_related("institution"), user, Action.VIEW_SYNC_MONITOR)


def deliveries_visible_to(user):
    return scope(
        Delivery.objects.select_related("event", "endpoint", "endpoint__institution"),
        user,
        Action.VIEW_SYNC_MONITOR,
        field="endpoint__institution",
    )


def batches_visible_to(user):
    return scope(InboundBatch.objects.select_related("institution"), user, Action.VIEW_SYNC_MONITOR)


def monitor_overview(user) -> list[dict]:
    """Per institution: endpoints with last success, backlog and failures; recent inbound batches."""
    ids = institution_ids_for(user, Action.VIEW_SYNC_MONITOR)
    institutions = Institution.objects.all() if ids is None else Institution.objects.filter(pk__in=ids)
    endpoints = (
        endpoints_visible_to(user)
        .annotate(
            backlog=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.PENDING)),
            failing=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.PENDING, deliveries__attempts__gt=0)),
            dead=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.DEAD)),
            delivered=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.DELIVERED)),
            last_success=Max("deliveries__delivered_at"),
        )
        .order_by("institution__code", "name")
    )
    by_institution: dict[int, list] = {}
    for endpoint in endpoints:
        by_institution.setdefault(endpoint.institution_id, []).append(endpoint)
    batches = (
        batches_visible_to(user)
        .values("institution_id")
        .annotate(
            last_landed=Max("finished_at", filter=Q(status=InboundBatchStatus.LANDED)),
            waiting=Count("pk", filter=Q(status__in=[InboundBatchStatus.RECEIVED, InboundBatchStatus.PROCESSING])),
            failed=Count("pk", filter=Q(status=InboundBatchStatus.FAILED)),
        )
    )
    batch_stats = {row["institution_id"]: row for row in batches}
    overview = []
    for institution in institutions.order_by("code"):
        inst_endpoints = by_institution.get(institution.pk, [])
        stats = batch_stats.get(institution.pk, {})
        if not inst_endpoints and not stats:
            continue
        successes = [e.last_success for e in inst_endpoints if e.last_success] + (
            [stats["last_landed"]] if stats.get("last_landed") else []
        )
        overview.append(
            {
                "institution": institution,
                "endpoints": inst_endpoints,
                "last_success": max(successes) if successes else None,
                "backlog": sum(e.backlog for e in inst_endpoints),
                "dead": sum(e.dead for e in inst_endpoints),
                "batches_waiting": stats.get("waiting", 0),
                "batches_failed": stats.get("failed", 0),
            }
        )
    return overview


def failing_deliveries(user, *, limit: int = 50):
    """Dead-lettered deliveries and pending ones that have failed at least once, newest first."""
    return (
        deliveries_visible_to(user)
        .filter(Q(status=DeliveryStatus.DEAD) | Q(status=DeliveryStatus.PENDING, attempts__gt=0))
        .order_by("-last_attempt_at", "-pk")[:limit]
    )


def recent_batches(user, *, limit: int = 20):
    return batches_visible_to(user).order_by("-received_at")[:limit]


def batches_for(user):
    """Batches of institutions where the user records encounters (uploaders) or monitors sync."""
    upload = institution_ids_for(user, Action.RECORD_ENCOUNTER)
    monitor = institution_ids_for(user, Action.VIEW_SYNC_MONITOR)
    queryset = InboundBatch.objects.select_related("institution")
    if upload is None or monitor is None:
        return queryset
    return queryset.filter(institution_id__in=upload | monitor)
