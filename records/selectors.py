"""Reads of patient records."""

import datetime

from django.db.models import QuerySet
from django.utils import timezone

from .models import Encounter, Patient


def encounters_on(institution, day: datetime.date | None = None) -> QuerySet[Encounter]:
    """The institution's visits on one local day (today by default)."""
    day = day or timezone.localdate()
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
    end = start + datetime.timedelta(days=1)
    return (
        Encounter.objects.filter(institution=institution, started_at__gte=start, started_at__lt=end)
        .select_related("patient", "attending")
        .prefetch_related("diagnoses")
        .order_by("started_at")
    )


def recently_registered_patients(institution, limit: int = 10) -> QuerySet[Patient]:
    return Patient.objects.filter(home_institution=institution).order_by("-created_at", "-pk")[:limit]
