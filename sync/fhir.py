"""FHIR R4 messages for outbox events.

Each event becomes a ``Bundle`` of type ``message``: a ``MessageHeader`` naming the event,
then the resources it is about (Patient, Encounter, Condition, MedicationRequest, Observation,
ChargeItem, ServiceRequest, Organization).  Records' resources come from the records builders
(``records/fhir.py``) in the one vocabulary (``records/fhir_vocabulary.py``), so a receiver reads
them exactly as the records API writes them.  The message is built once when the event is
dispatched and sent unchanged on every try, so a retried delivery carries exactly the same body.
"""

import datetime
import uuid

from django.apps import apps

from consortium.prefetch import prefetch_reverse
from records import fhir as records_fhir
from records.fhir_vocabulary import (
    EVENT_SYSTEM,
    EXT_REFERRAL_DIRECTION,
    EXT_REFERRAL_STATUS,
    MESSAGE_SOURCE,
    OUTBOX_EVENT_SYSTEM,
    REFERRAL_ID_SYSTEM,
    RESIDENT_ID_SYSTEM,
    SNOMED_SYSTEM,
    aggregate_system,
)

REFERRAL_STATUS = {
    "draft": "draft",
    "submitted": "active",
    "under_review": "active",
    "accepted": "active",
    "arrived": "active",
    "in_treatment": "active",
    "completed": "completed",
    "rejected": "revoked",
    "redirected": "revoked",
    "cancelled": "revoked",
    "expired": "revoked",
}


def _instant(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return str(value)


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _drop_empty(resource: dict) -> dict:
    return {key: value for key, value in resource.items() if value not in (None, "", [], {})}


class _Message:
    """One message Bundle; the records builders make its Patient, Encounter, Condition and ChargeItem resources."""

    def __init__(self, event):
        self.event = event
        self.entries: list[dict] = []
        self._urls: set[str] = set()

    def add(self, full_url: str | None, resource) -> str:
        """Add a resource once under ``full_url`` (a stable URN of its row); ``resource`` may be a callable."""
        if full_url is not None and full_url in self._urls:
            return full_url
        full_url = full_url or _urn()
        self._urls.add(full_url)
        self.entries.append({"fullUrl": full_url, "resource": _drop_empty(resource() if callable(resource) else resource)})
        return full_url

    def organization(self, institution) -> str | None:
        if institution is None:
            return None
        return self.add(
            records_fhir.resource_url("institution", institution.pk), lambda: records_fhir.organization_resource(institution)
        )

    def patient(self, patient) -> str:
        url = records_fhir.resource_url("patient", patient.pk)
        if url not in self._urls:
            organization_url = self.organization(patient.home_institution)
            self.add(url, records_fhir.patient_resource(patient, True, organization_url=organization_url))
        return url

    def encounter(self, encounter) -> str:
        url = records_fhir.resource_url("encounter", encounter.pk)
        if url in self._urls:
            return url
        patient_url = self.patient(encounter.patient)
        organization_url = self.organization(encounter.institution)
        for full_url, resource in records_fhir.encounter_entries(encounter, patient_url, organization_url=organization_url):
            self.add(full_url, resource)
        return url

    def referral(self, referral) -> str:
        patient_ref = self.patient(referral.patient)
        requester = self.organization(referral.from_institution)
        performer = self.organization(referral.to_institution)
        resource = {
            "resourceType": "ServiceRequest",
            "identifier": [{"system": REFERRAL_ID_SYSTEM, "value": str(referral.pk)}],
            "status": REFERRAL_STATUS.get(referral.status, "unknown"),
            "intent": "order",
            "category": [{"coding": [{"system": SNOMED_SYSTEM, "code": "3457005", "display": "Patient referral"}]}],
            "priority": {"routine": "routine", "urgent": "urgent", "emergency": "stat"}.get(referral.urgency, "routine"),
            "subject": {"reference": patient_ref},
            "requester": {"reference": requester},
            "performer": [{"reference": performer}],
            "reasonCode": [{"text": referral.reason}] if referral.reason else [],
            "extension": [
                {"url": EXT_REFERRAL_DIRECTION, "valueCode": referral.direction},
                {"url": EXT_REFERRAL_STATUS, "valueCode": referral.status},
            ],
        }
        source_encounter = getattr(referral, "source_encounter", None)
        if source_encounter is not None:
            resource["encounter"] = {"reference": self.encounter(source_encounter)}
        return self.add(records_fhir.resource_url("referral", referral.pk), resource)

    def diagnostic_order(self, order) -> list[str]:
        """ServiceRequest, ImagingStudy, Observations and DiagnosticReport of a diagnostic order; the last is the focus."""
        from diagnostics import fhir as diagnostics_fhir

        def ref(kind: str, obj) -> str:
            if kind == "Patient":
                return self.patient(obj)
            if kind == "Encounter":
                return self.encounter(obj)
            return self.organization(obj)

        urls = [
            self.add(f"{diagnostics_fhir.SYSTEM_BASE}/{resource['resourceType']}/{resource['id']}", resource)
            for resource in diagnostics_fhir.order_resources(order, ref)
        ]
        return urls[-1:]

    def basic(self) -> str:
        return self.add(
            None,
            {
                "resourceType": "Basic",
                "code": {"coding": [{"system": EVENT_SYSTEM, "code": self.event.event_type}]},
                "identifier": [{"system": aggregate_system(self.event.aggregate_type), "value": self.event.aggregate_id}],
            },
        )

    def bundle(self, focus: list[str]) -> dict:
        event = self.event
        header = {
            "fullUrl": _urn(),
            "resource": _drop_empty(
                {
                    "resourceType": "MessageHeader",
                    "eventCoding": {"system": EVENT_SYSTEM, "code": event.event_type},
                    "source": {"name": "consortium", "endpoint": MESSAGE_SOURCE},
                    "sender": {"reference": self.organization(event.institution)} if event.institution_id else None,
                    "focus": [{"reference": ref} for ref in focus],
                }
            ),
        }
        return {
            "resourceType": "Bundle",
            "id": f"outbox-{event.pk}",
            "type": "message",
            "timestamp": _instant(event.created_at),
            "identifier": {"system": OUTBOX_EVENT_SYSTEM, "value": str(event.pk)},
            "entry": [header, *self.entries],
        }


def _load(event):
    try:
        model = apps.get_model(event.aggregate_type)
    except (LookupError, ValueError):
        return None
    return model._default_manager.filter(pk=event.aggregate_id).first()


def key_of(event) -> tuple[str, str]:
    return (event.aggregate_type, event.aggregate_id)


#: What an encounter's message shows beside it (reverse foreign keys, filled by ``prefetch_reverse``).
_ENCOUNTER_PARTS = ("diagnoses", "prescriptions", "observations", "charge_items")


def _preload_encounters(ids):
    from records.models import Encounter

    encounters = Encounter.objects.select_related("patient__home_institution", "institution").in_bulk(ids)
    prefetch_reverse(encounters.values(), *_ENCOUNTER_PARTS)
    return encounters


def _preload_referrals(ids):
    from referrals.models import Referral

    referrals = Referral.objects.select_related(
        "patient__home_institution",
        "from_institution",
        "to_institution",
        "source_encounter__institution",
        "source_encounter__patient__home_institution",
    ).in_bulk(ids)
    prefetch_reverse([referral.source_encounter for referral in referrals.values()], *_ENCOUNTER_PARTS)
    return referrals


_PRELOADERS = {"records.encounter": _preload_encounters, "referrals.referral": _preload_referrals}


def preload(events) -> dict[tuple[str, str], object]:
    """Load what a set of events is about, a few queries per kind: encounters and referrals with what they show."""
    loaded = {}
    for label, load in _PRELOADERS.items():
        ids = [int(e.aggregate_id) for e in events if e.aggregate_type == label and e.aggregate_id.isdigit()]
        if ids:
            loaded.update({(label, str(pk)): obj for pk, obj in load(ids).items()})
    return loaded


def _about(event, preloaded: dict | None):
    key = key_of(event)
    return preloaded[key] if preloaded and key in preloaded else _load(event)


def build_message(event, preloaded: dict | None = None) -> dict:
    """The FHIR R4 message Bundle for ``event``, from the current state of what it is about."""
    message = _Message(event)
    obj = _about(event, preloaded)
    label = event.aggregate_type
    if obj is not None and label == "records.encounter":
        focus = [message.encounter(obj)]
    elif obj is not None and label == "referrals.referral":
        focus = [message.referral(obj)]
    elif obj is not None and label == "diagnostics.order":
        focus = message.diagnostic_order(obj)
    elif obj is not None and label == "diagnostics.criticalvalue":
        focus = message.diagnostic_order(obj.order)
    else:
        focus = [message.basic()]
    return message.bundle(focus)


def parties_of(event, preloaded: dict | None = None) -> set[int] | None:
    """Institutions directly involved in a referral or discharge event; ``None`` when not known."""
    obj = _about(event, preloaded)
    if obj is None:
        return None
    ids = {getattr(obj, name, None) for name in ("from_institution_id", "to_institution_id", "institution_id")}
    ids.discard(None)
    return ids or None


def minimise(message: dict, *, identifiers: bool) -> dict:
    """The message as a receiver without the right to the patient's identifiers may see it.

    Resident ID, phone and address go only to the patient's home institution (the one institution
    that reads them unmasked on the platform); for every other receiver they are taken out of each
    Patient resource.  The result depends on the message alone, so a retry sends the same bytes.
    """
    if identifiers:
        return message
    entries = []
    for entry in message.get("entry", []):
        resource = entry.get("resource") or {}
        if resource.get("resourceType") == "Patient":
            resource = {key: value for key, value in resource.items() if key not in ("telecom", "address")}
            kept = [item for item in resource.get("identifier", []) if item.get("system") != RESIDENT_ID_SYSTEM]
            if kept:
                resource["identifier"] = kept
            else:
                resource.pop("identifier", None)
            entry = {**entry, "resource": resource}
        entries.append(entry)
    return {**message, "entry": entries} if "entry" in message else message
