"""The clinical summary snapshot copied into a referral when it is created.

The records app's ``records.selectors.clinical_summary(patient)`` is used when it exists;
otherwise the snapshot is built here from the patient's recent encounters and diagnoses.
The result is plain JSON so it stays readable after the record changes.
"""

import json

from django.core.serializers.json import DjangoJSONEncoder

from records import selectors as record_selectors
from records.models import ChargeCategory, ChargeItem, Diagnosis, Encounter

RECENT_ENCOUNTERS = 5
SECTIONS = ("diagnoses", "medications", "allergies", "vitals", "labs")


def _from_encounters(patient) -> dict:
    encounters = list(
        Encounter.objects.filter(patient=patient).select_related("institution").order_by("-started_at")[:RECENT_ENCOUNTERS]
    )
    diagnoses = Diagnosis.objects.filter(encounter__in=encounters).select_related("encounter__institution")
    drugs = ChargeItem.objects.filter(encounter__in=encounters, category=ChargeCategory.DRUG).select_related("encounter")
    medications = [{"name": i.name, "quantity": str(i.quantity), "date": i.encounter.started_at.date()} for i in drugs]
    return {
        "diagnoses": [
            {
                "code": d.code,
                "description": d.description,
                "primary": d.is_primary,
                "date": d.encounter.started_at.date(),
                "institution": d.encounter.institution.name,
            }
            for d in diagnoses
        ],
        "medications": medications,
        "allergies": [],
        "vitals": [],
        "labs": [],
        "encounters": [
            {"date": e.started_at.date(), "institution": e.institution.name, "kind": e.kind, "complaint": e.chief_complaint}
            for e in encounters
        ],
    }


def clinical_summary_snapshot(patient) -> dict:
    builder = getattr(record_selectors, "clinical_summary", None)
    summary = builder(patient) if builder is not None else _from_encounters(patient)
    if not isinstance(summary, dict):
        summary = {"summary": summary}
    for section in SECTIONS:
        summary.setdefault(section, [])
    return json.loads(json.dumps(summary, cls=DjangoJSONEncoder, default=str))
