"""Reads of patient records."""

import datetime

from django.db.models import QuerySet
from django.utils import timezone

from .models import Diagnosis, Encounter, Observation, ObservationKind, Patient, Prescription


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


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _decimal(value) -> str | None:
    return str(value) if value is not None else None


def clinical_summary(patient: Patient, *, limit: int = 5) -> dict:
    """A JSON-serialisable snapshot of the patient's recent clinical state (used for referrals).

    It carries no resident ID, phone or address: only the clinical facts and the home institution.
    """
    encounters = list(
        Encounter.objects.filter(patient=patient).select_related("institution").order_by("-started_at", "-pk")[:limit]
    )
    diagnoses = (
        Diagnosis.objects.filter(encounter__patient=patient)
        .select_related("encounter")
        .order_by("-encounter__started_at", "-is_primary", "pk")[: limit * 2]
    )
    prescriptions = (
        Prescription.objects.filter(encounter__patient=patient)
        .select_related("encounter")
        .order_by("-encounter__started_at", "pk")[: limit * 2]
    )
    observations = Observation.objects.filter(encounter__patient=patient).order_by("-observed_at", "pk")[: limit * 4]
    return {
        "patient_id": patient.pk,
        "sex": patient.sex,
        "age": patient.age,
        "home_institution": patient.home_institution.code,
        "generated_at": timezone.now().isoformat(),
        "recent_encounters": [
            {
                "id": e.pk,
                "kind": e.kind,
                "institution": e.institution.code,
                "started_at": _iso(e.started_at),
                "chief_complaint": e.chief_complaint,
            }
            for e in encounters
        ],
        "diagnoses": [
            {"code": d.code, "description": d.description, "primary": d.is_primary, "date": _iso(d.encounter.started_at)}
            for d in diagnoses
        ],
        "medications": [
            {"drug": p.drug_name, "dose": p.dose, "frequency": p.frequency, "days": p.days, "date": _iso(p.encounter.started_at)}
            for p in prescriptions
        ],
        "allergies": [{"substance": a.substance, "reaction": a.reaction} for a in patient.allergies.all()],
        "vitals": [_observation(o) for o in observations if o.kind == ObservationKind.VITAL],
        "labs": [_observation(o) for o in observations if o.kind == ObservationKind.LAB],
    }


def _observation(o: Observation) -> dict:
    return {
        "code": o.code,
        "name": o.name,
        "value": _decimal(o.value),
        "unit": o.unit,
        "reference_low": _decimal(o.reference_low),
        "reference_high": _decimal(o.reference_high),
        "out_of_range": o.out_of_range,
        "observed_at": _iso(o.observed_at),
    }
