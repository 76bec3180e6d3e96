"""FHIR R4 messages for outbox events.

Each event becomes a ``Bundle`` of type ``message``: a ``MessageHeader`` naming the event,
then the resources it is about (Patient, Encounter, Condition, ChargeItem, ServiceRequest,
Organization).  The message is built once when the event is dispatched and sent unchanged on
every try, so a retried delivery carries exactly the same body.
"""

import datetime
import uuid
from decimal import Decimal

from django.apps import apps

SYSTEM_BASE = "https://consortium.example.cn/fhir"
RESIDENT_ID_SYSTEM = f"{SYSTEM_BASE}/sid/resident-id"
INSURANCE_NUMBER_SYSTEM = f"{SYSTEM_BASE}/sid/insurance-number"
INSTITUTION_SYSTEM = f"{SYSTEM_BASE}/sid/institution-code"
EVENT_SYSTEM = f"{SYSTEM_BASE}/CodeSystem/event"
ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"
ENCOUNTER_CLASS = {
    "outpatient": ("AMB", "ambulatory"),
    "inpatient": ("IMP", "inpatient encounter"),
    "follow_up": ("AMB", "ambulatory"),
}
SEX = {"M": "male", "F": "female", "U": "unknown"}
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


def _money(value: Decimal) -> dict:
    return {"value": float(value), "currency": "CNY"}


def _drop_empty(resource: dict) -> dict:
    return {key: value for key, value in resource.items() if value not in (None, "", [], {})}


class _Message:
    def __init__(self, event):
        self.event = event
        self.entries: list[dict] = []
        self._refs: dict[tuple[str, int], str] = {}

    def add(self, key: tuple[str, int] | None, resource: dict) -> str:
        if key is not None and key in self._refs:
            return self._refs[key]
        full_url = _urn()
        self.entries.append({"fullUrl": full_url, "resource": _drop_empty(resource)})
        if key is not None:
            self._refs[key] = full_url
        return full_url

    def organization(self, institution) -> str | None:
        if institution is None:
            return None
        return self.add(
            ("Organization", institution.pk),
            {
                "resourceType": "Organization",
                "identifier": [{"system": INSTITUTION_SYSTEM, "value": institution.code}],
                "name": institution.name,
            },
        )

    def patient(self, patient) -> str:
        identifiers = []
        if patient.resident_id:
            identifiers.append({"system": RESIDENT_ID_SYSTEM, "value": patient.resident_id})
        if patient.insurance_number:
            identifiers.append({"system": INSURANCE_NUMBER_SYSTEM, "value": patient.insurance_number})
        return self.add(
            ("Patient", patient.pk),
            {
                "resourceType": "Patient",
                "identifier": identifiers,
                "name": [{"text": patient.name}],
                "gender": SEX.get(patient.sex, "unknown"),
                "birthDate": patient.birth_date.isoformat(),
                "telecom": [{"system": "phone", "value": patient.phone}] if patient.phone else [],
                "address": [{"text": patient.address}] if patient.address else [],
                "managingOrganization": {"reference": self.organization(patient.home_institution)},
            },
        )

    def encounter(self, encounter) -> str:
        patient_ref = self.patient(encounter.patient)
        org_ref = self.organization(encounter.institution)
        code, display = ENCOUNTER_CLASS.get(encounter.kind, ("AMB", "ambulatory"))
        encounter_ref = self.add(
            ("Encounter", encounter.pk),
            {
                "resourceType": "Encounter",
                "identifier": [
                    {
                        "system": f"{INSTITUTION_SYSTEM}/{encounter.institution.code}/encounter",
                        "value": encounter.external_id or str(encounter.pk),
                    }
                ],
                "status": "finished" if encounter.ended_at else "in-progress",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": code, "display": display},
                "subject": {"reference": patient_ref},
                "serviceProvider": {"reference": org_ref},
                "period": _drop_empty({"start": _instant(encounter.started_at), "end": _instant(encounter.ended_at)}),
                "reasonCode": [{"text": encounter.chief_complaint}] if encounter.chief_complaint else [],
            },
        )
        for diagnosis in encounter.diagnoses.all():
            self.add(
                None,
                {
                    "resourceType": "Condition",
                    "clinicalStatus": {
                        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
                    },
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                    "code": "encounter-diagnosis",
                                }
                            ]
                        }
                    ],
                    "code": {"coding": [{"system": ICD10_SYSTEM, "code": diagnosis.code, "display": diagnosis.description}]},
                    "subject": {"reference": patient_ref},
                    "encounter": {"reference": encounter_ref},
                },
            )
        for item in encounter.charge_items.all():
            self.add(
                None,
                {
                    "resourceType": "ChargeItem",
                    "status": "billable",
                    "code": {
                        "coding": [
                            {"system": f"{SYSTEM_BASE}/CodeSystem/charge-item", "code": item.item_code, "display": item.name}
                        ]
                    },
                    "subject": {"reference": patient_ref},
                    "context": {"reference": encounter_ref},
                    "quantity": {"value": float(item.quantity)},
                    "priceOverride": _money(item.unit_price),
                    "extension": [
                        {"url": f"{SYSTEM_BASE}/StructureDefinition/catalogue-class", "valueCode": item.catalogue_class},
                        {"url": f"{SYSTEM_BASE}/StructureDefinition/amount", "valueMoney": _money(item.amount)},
                    ],
                },
            )
        return encounter_ref

    def referral(self, referral) -> str:
        patient_ref = self.patient(referral.patient)
        requester = self.organization(referral.from_institution)
        performer = self.organization(referral.to_institution)
        resource = {
            "resourceType": "ServiceRequest",
            "identifier": [{"system": f"{SYSTEM_BASE}/sid/referral", "value": str(referral.pk)}],
            "status": REFERRAL_STATUS.get(referral.status, "unknown"),
            "intent": "order",
            "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "3457005", "display": "Patient referral"}]}],
            "priority": {"routine": "routine", "urgent": "urgent", "emergency": "stat"}.get(referral.urgency, "routine"),
            "subject": {"reference": patient_ref},
            "requester": {"reference": requester},
            "performer": [{"reference": performer}],
            "reasonCode": [{"text": referral.reason}] if referral.reason else [],
            "extension": [
                {"url": f"{SYSTEM_BASE}/StructureDefinition/referral-direction", "valueCode": referral.direction},
                {"url": f"{SYSTEM_BASE}/StructureDefinition/referral-status", "valueCode": referral.status},
            ],
        }
        source_encounter = getattr(referral, "source_encounter", None)
        if source_encounter is not None:
            resource["encounter"] = {"reference": self.encounter(source_encounter)}
        return self.add(("ServiceRequest", referral.pk), resource)

    def basic(self) -> str:
        return self.add(
            None,
            {
                "resourceType": "Basic",
                "code": {"coding": [{"system": EVENT_SYSTEM, "code": self.event.event_type}]},
                "identifier": [{"system": f"{SYSTEM_BASE}/sid/{self.event.aggregate_type}", "value": self.event.aggregate_id}],
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
                    "source": {"name": "consortium", "endpoint": f"{SYSTEM_BASE}/outbox"},
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
            "identifier": {"system": f"{SYSTEM_BASE}/sid/outbox-event", "value": str(event.pk)},
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


def _preloading_querysets() -> dict[str, object]:
    from records.models import Encounter
    from referrals.models import Referral

    return {
        "records.encounter": Encounter.objects.select_related("patient__home_institution", "institution").prefetch_related(
            "diagnoses", "charge_items"
        ),
        "referrals.referral": Referral.objects.select_related(
            "patient__home_institution",
            "from_institution",
            "to_institution",
            "source_encounter__institution",
            "source_encounter__patient__home_institution",
        ).prefetch_related("source_encounter__diagnoses", "source_encounter__charge_items"),
    }


def preload(events) -> dict[tuple[str, str], object]:
    """Load what a set of events is about, a few queries per kind: encounters and referrals with what they show."""
    loaded = {}
    for label, queryset in _preloading_querysets().items():
        ids = [int(e.aggregate_id) for e in events if e.aggregate_type == label and e.aggregate_id.isdigit()]
        if ids:
            loaded.update({(label, str(pk)): obj for pk, obj in queryset.in_bulk(ids).items()})
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
