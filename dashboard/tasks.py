"""Periodic dashboard work: indicator roll-ups (hourly for recent months, nightly for the year) and warnings."""

from celery import shared_task
from django.utils import timezone

from . import services
from .forms import MAX_MONTHS
from .rollups import months_back


@shared_task
def rollup_indicators(months: int = 2) -> dict:
    """Recompute the last ``months`` months (this one included); re-running replaces their values."""
    months = max(1, min(int(months), MAX_MONTHS))
    today = timezone.localdate()
    result = services.run_rollups(first=months_back(today, months), last=today, today=today)
    return {"created": result.created, "updated": result.updated, "deleted": result.deleted}


@shared_task
def recompute_expenditure_warnings() -> dict:
    result = services.recompute_expenditure_warnings()
    return {"raised": result.created, "updated": result.updated, "cleared": result.deleted, "open": result.details["open"]}
