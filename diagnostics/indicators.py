"""Figures of the shared centres for their own pages (the monthly roll-ups live in ``dashboard``).

* turnaround: hours from order to first signed report, p50 and p90 (nearest rank) per centre and urgency;
* coverage: for each kind of centre, the share of the consortium's township health centres it serves;
* critical values acknowledged within their deadline, over those raised;
* recognition: prior results used over recognition decisions, with the cost of the repeats avoided.
"""

import datetime
import math
from collections import defaultdict
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone

from consortium.models import InstitutionLevel, Membership

from .models import REPORTED_STATUSES, Centre, CentreKind, Order, RecognitionDecision


def nearest_rank(sorted_values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of already sorted values (p50 of [1, 2, 3, 4] is 2)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def turnaround(centres, *, since: datetime.datetime | None = None) -> list[dict]:
    """p50/p90 hours from order to report per centre and urgency, for orders reported since ``since``."""
    since = since or timezone.now() - datetime.timedelta(days=90)
    rows = Order.objects.filter(centre__in=centres, status__in=REPORTED_STATUSES, reported_at__gte=since).values_list(
        "centre_id", "urgency", "requested_at", "reported_at"
    )
    hours = defaultdict(list)
    for centre_id, urgency, requested, reported in rows.iterator(chunk_size=2000):
        hours[(centre_id, urgency)].append((reported - requested).total_seconds() / 3600)
    names = {c.pk: c.name for c in centres}
    result = []
    for (centre_id, urgency), values in sorted(hours.items()):
        values.sort()
        result.append(
            {
                "centre": names.get(centre_id, centre_id),
                "urgency": urgency,
                "count": len(values),
                "p50": round(nearest_rank(values, 0.5), 1),
                "p90": round(nearest_rank(values, 0.9), 1),
            }
        )
    return result


def township_coverage(consortium) -> list[dict]:
    """For each kind of centre: how many of the consortium's township health centres one of them serves."""
    townships = set(
        Membership.objects.active()
        .filter(consortium=consortium, institution__level=InstitutionLevel.TOWNSHIP_HEALTH_CENTRE)
        .values_list("institution_id", flat=True)
    )
    result = []
    for kind, label in CentreKind.choices:
        served = set(
            Centre.objects.filter(consortium=consortium, kind=kind, is_active=True).values_list("served_institutions", flat=True)
        )
        covered = len(townships & served)
        result.append(
            {
                "kind": label,
                "covered": covered,
                "townships": len(townships),
                "share": (covered / len(townships)) if townships else None,
            }
        )
    return result


def critical_summary(values) -> dict:
    """Raised, acknowledged, acknowledged in time, and the in-time share, over a critical-value queryset."""
    from django.db.models import F

    counts = values.aggregate(
        raised=Count("pk"),
        acknowledged=Count("pk", filter=Q(acknowledged_at__isnull=False)),
        in_time=Count("pk", filter=Q(acknowledged_at__isnull=False, acknowledged_at__lte=F("ack_due_at"))),
        escalated=Count("pk", filter=Q(escalated_at__isnull=False)),
    )
    counts["in_time_share"] = (counts["in_time"] / counts["raised"]) if counts["raised"] else None
    return counts


def recognition_summary(decisions=None) -> list[dict]:
    """Per recognised item and institution: decisions, prior results used, the rate, and the cost avoided."""
    decisions = decisions if decisions is not None else RecognitionDecision.objects.all()
    rows = (
        decisions.values("item__service_code", "item__name", "institution__name")
        .annotate(total=Count("pk"), used=Count("pk", filter=Q(recognised=True)), avoided=Sum("avoided_cost"))
        .order_by("item__service_code", "institution__name")
    )
    return [
        {
            "code": row["item__service_code"],
            "name": row["item__name"],
            "institution": row["institution__name"],
            "total": row["total"],
            "used": row["used"],
            "rate": row["used"] / row["total"] if row["total"] else None,
            "avoided": row["avoided"] or Decimal("0.00"),
        }
        for row in rows
    ]
