"""The clinical summary snapshot copied into a referral when it is created.

It is the records app's :func:`records.selectors.clinical_summary` (recent diagnoses,
medications, allergies, vitals, labs), frozen as plain JSON so the referral keeps what the
sender saw even after the record changes.
"""

import json

from django.core.serializers.json import DjangoJSONEncoder

from records.selectors import clinical_summary

SECTIONS = ("diagnoses", "medications", "allergies", "vitals", "labs")


def clinical_summary_snapshot(patient, visits_of: int | None = None) -> dict:
    """``visits_of``: the sender reads only its own visits of the patient, so the snapshot holds only those."""
    summary = dict(clinical_summary(patient, visits_of=visits_of))
    for section in SECTIONS:
        summary.setdefault(section, [])
    return json.loads(json.dumps(summary, cls=DjangoJSONEncoder))
