"""The product's URLs plus ``/bench/bare-worklist/<centre>/``: a bare Django view returning the worklist's rows.

It exists only in this benchmark (selected by ``bench_settings``), never in the product.
"""

from django.http import JsonResponse
from django.urls import path

from config.urls import urlpatterns as product_urlpatterns
from diagnostics.models import Order


def bare_worklist(request, centre):
    """No session, no permission checks, no template: the same 50 rows as the reader's worklist page."""
    rows = list(
        Order.objects.filter(centre_id=centre, status__in=["received", "claimed", "preliminary"])
        .order_by("urgency_rank", "due_at", "pk")
        .values("id", "accession", "urgency", "due_at", "service__name", "ordering_institution__name", "status")[:50]
    )
    return JsonResponse({"results": rows})


urlpatterns = [path("bench/bare-worklist/<int:centre>/", bare_worklist), *product_urlpatterns]
