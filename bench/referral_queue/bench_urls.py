"""The product's URLs plus ``/bench/bare-queue/``: a bare Django view returning the queue's first rows.

It exists only in this benchmark (selected by ``bench_settings``), never in the product.
"""

import os

from django.http import JsonResponse
from django.urls import path

from config.urls import urlpatterns as product_urlpatterns
from referrals.models import AWAITING_DECISION, Referral

INSTITUTION_ID = int(os.environ.get("BENCH_INSTITUTION_ID", "0"))


def bare_queue(request):
    """No session, no permission checks, no template: the same 50 rows as the coordinator's queue page."""
    rows = list(
        Referral.objects.filter(to_institution_id=INSTITUTION_ID, status__in=AWAITING_DECISION)
        .order_by("due_at", "pk")
        .values("id", "due_at", "patient__name", "from_institution__name", "to_department__name", "urgency", "status")[:50]
    )
    return JsonResponse({"results": rows})


urlpatterns = [path("bench/bare-queue/", bare_queue), *product_urlpatterns]
