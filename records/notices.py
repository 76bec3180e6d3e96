"""Telling a patient's home institution what other members did with its patient.

Matching an inbound visit (an HIS batch, a FHIR import, a clerk's upload, a visit form) to a
patient links the visit to the record; it does not open the record (:mod:`records.access`), but the
home clinic must learn of it.  :func:`note_visits_elsewhere` is set-based so that the batch path
calls it once per chunk: for each (patient, recording institution) pair whose patient is registered
elsewhere it adds the visits to the pair's open notice, or opens one.  Rows are written in the
caller's transaction, so a rolled-back batch notifies no one.
"""

from collections import Counter
from collections.abc import Iterable

from django.db.models import F
from django.utils import timezone

from .models import HomeNotice, NoticeKind, Patient


def note_visits_elsewhere(pairs: Iterable[tuple[int, int]]) -> int:
    """``pairs``: one ``(patient_id, institution_id)`` per recorded visit; returns the notices touched."""
    counts = Counter(pairs)
    if not counts:
        return 0
    homes = dict(Patient.objects.filter(pk__in={patient_id for patient_id, _ in counts}).values_list("pk", "home_institution_id"))
    elsewhere = {
        (patient_id, institution_id): visits
        for (patient_id, institution_id), visits in counts.items()
        if homes.get(patient_id) not in (None, institution_id)
    }
    if not elsewhere:
        return 0
    now = timezone.now()
    open_notices = {
        (notice.patient_id, notice.from_institution_id): notice.pk
        for notice in HomeNotice.objects.filter(
            kind=NoticeKind.VISIT_ELSEWHERE,
            acknowledged_at__isnull=True,
            patient_id__in={patient_id for patient_id, _ in elsewhere},
        ).only("pk", "patient_id", "from_institution_id")
    }
    fresh = []
    for (patient_id, institution_id), visits in elsewhere.items():
        pk = open_notices.get((patient_id, institution_id))
        if pk is not None:
            HomeNotice.objects.filter(pk=pk).update(visits=F("visits") + visits, updated_at=now)
        else:
            fresh.append(
                HomeNotice(
                    institution_id=homes[patient_id],
                    patient_id=patient_id,
                    kind=NoticeKind.VISIT_ELSEWHERE,
                    from_institution_id=institution_id,
                    visits=visits,
                    created_at=now,
                    updated_at=now,
                )
            )
    HomeNotice.objects.bulk_create(fresh)
    return len(elsewhere)


def note_break_glass(grant) -> HomeNotice:
    now = timezone.now()
    return HomeNotice.objects.create(
        institution_id=grant.patient.home_institution_id,
        patient_id=grant.patient_id,
        kind=NoticeKind.BREAK_GLASS,
        from_institution_id=grant.institution_id,
        break_glass=grant,
        created_at=now,
        updated_at=now,
    )
