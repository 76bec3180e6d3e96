"""FHIR export and import of a patient's record.

Resources are validated with ``fhir.resources.R4B`` (FHIR 4.3, the R4 line: the resources used
here, Patient, Encounter, Condition, MedicationRequest, Observation and ChargeItem, have the R4
shape). The workflows above records add their rows of the exported visits through
``records.registry.register_fhir_source`` (diagnostics: ServiceRequest, ImagingStudy, Observation,
DiagnosticReport), with an Organization entry for each institution they reference.

The import takes a transaction (or collection) Bundle from another system and answers per entry:
created, matched or rejected with a reason.
"""

import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError as PydanticValidationError

from consortium.errors import Invalid

from . import registry, services
from .fhir_vocabulary import (
    ACT_CODE,
    ACT_CODE_SYSTEM,
    BUNDLE_ID_SYSTEM,
    CHARGE_ITEM_SYSTEM,
    CONDITION_CATEGORY_SYSTEM,
    DRUG_SYSTEM,
    ENCOUNTER_ID_SYSTEM,
    EXT_CATALOGUE_CLASS,
    EXT_CATEGORY,
    EXT_ENCOUNTER_KIND,
    EXT_UNIT_PRICE,
    GENDER,
    ICD10_SYSTEM,
    INSTITUTION_SYSTEM,
    INSURANCE_SYSTEM,
    LOCAL_ID_SYSTEM,
    OBSERVATION_CATEGORY,
    OBSERVATION_CATEGORY_SYSTEM,
    OBSERVATION_SYSTEM,
    RESIDENT_ID_SYSTEM,
    SEX,
    UCUM_SYSTEM,
)
from .models import Encounter, EncounterKind, ObservationKind, Patient


def resource_url(kind: str, pk) -> str:
    """The stable ``fullUrl`` of one of our rows in any Bundle: the same row is the same URN everywhere."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'consortium/{kind}/{pk}')}"


def _money(value: Decimal) -> dict:
    return {"value": float(value), "currency": "CNY"}


def _organization_reference(institution, url: str | None) -> dict:
    reference = {"identifier": {"system": INSTITUTION_SYSTEM, "value": institution.code}}
    return {"reference": url, **reference} if url else reference


def organization_resource(institution) -> dict:
    return {
        "resourceType": "Organization",
        "identifier": [{"system": INSTITUTION_SYSTEM, "value": institution.code}],
        "name": institution.name,
    }


def patient_resource(patient: Patient, include_identifiers: bool, *, organization_url: str | None = None) -> dict:
    """A Patient; the resident ID, phone and address only with ``include_identifiers``.

    ``managingOrganization`` names the home institution by its code; ``organization_url`` adds a
    reference to an Organization entry of the same Bundle.
    """
    identifiers = []
    if include_identifiers and patient.resident_id:
        identifiers.append({"system": RESIDENT_ID_SYSTEM, "value": patient.resident_id})
    if patient.insurance_number:
        identifiers.append({"system": INSURANCE_SYSTEM, "value": patient.insurance_number})
    resource = {
        "resourceType": "Patient",
        "id": str(patient.pk),
        "identifier": identifiers or None,
        "name": [{"use": "official", "text": patient.name}]
        + ([{"use": "usual", "text": patient.name_pinyin}] if patient.name_pinyin else []),
        "gender": GENDER[patient.sex],
        "birthDate": patient.birth_date.isoformat(),
        "telecom": [{"system": "phone", "value": patient.phone}] if include_identifiers and patient.phone else None,
        "address": [{"text": patient.address or None, "district": patient.village or None}]
        if include_identifiers and (patient.address or patient.village)
        else None,
        "managingOrganization": _organization_reference(patient.home_institution, organization_url),
    }
    return _drop_none(resource)


def encounter_resource(encounter: Encounter, patient_url: str, diagnoses, *, organization_url: str | None = None) -> dict:
    """An Encounter; ``diagnoses`` are its Diagnosis rows, referenced by their :func:`resource_url`."""
    resource = {
        "resourceType": "Encounter",
        "status": "finished" if encounter.ended_at or encounter.kind != EncounterKind.INPATIENT else "in-progress",
        "class": {"system": ACT_CODE_SYSTEM, "code": ACT_CODE[encounter.kind]},
        "extension": [{"url": EXT_ENCOUNTER_KIND, "valueCode": encounter.kind}],
        "subject": {"reference": patient_url},
        "period": {
            "start": encounter.started_at.isoformat(),
            "end": encounter.ended_at.isoformat() if encounter.ended_at else None,
        },
        "serviceProvider": _organization_reference(encounter.institution, organization_url),
    }
    identifier = encounter.external_id or f"{encounter.institution.code}-{encounter.pk}"
    resource["identifier"] = [{"system": ENCOUNTER_ID_SYSTEM, "value": identifier}]
    if encounter.chief_complaint:
        resource["reasonCode"] = [{"text": encounter.chief_complaint}]
    if diagnoses:
        resource["diagnosis"] = [
            {"condition": {"reference": resource_url("condition", d.pk)}, "rank": 1 if d.is_primary else 2} for d in diagnoses
        ]
    return _drop_none(resource)


def condition_resource(diagnosis, encounter: Encounter, patient_url: str, encounter_url: str) -> dict:
    return {
        "resourceType": "Condition",
        "category": [{"coding": [{"system": CONDITION_CATEGORY_SYSTEM, "code": "encounter-diagnosis"}]}],
        "code": {"coding": [{"system": ICD10_SYSTEM, "code": diagnosis.code, "display": diagnosis.description}]},
        "subject": {"reference": patient_url},
        "encounter": {"reference": encounter_url},
        "recordedDate": encounter.started_at.isoformat(),
    }


def medication_request_resource(prescription, encounter: Encounter, patient_url: str, encounter_url: str) -> dict:
    resource = {
        "resourceType": "MedicationRequest",
        "status": "completed",
        "intent": "order",
        "medicationCodeableConcept": {
            "text": prescription.drug_name,
            **({"coding": [{"system": DRUG_SYSTEM, "code": prescription.drug_code}]} if prescription.drug_code else {}),
        },
        "subject": {"reference": patient_url},
        "encounter": {"reference": encounter_url},
        "authoredOn": encounter.started_at.isoformat(),
        "dosageInstruction": [
            {"text": " ".join(filter(None, [prescription.dose, prescription.frequency])) or prescription.drug_name}
        ],
    }
    if prescription.days:
        resource["dispenseRequest"] = {
            "expectedSupplyDuration": {"value": prescription.days, "unit": "d", "system": UCUM_SYSTEM, "code": "d"}
        }
    return resource


def observation_resource(observation, patient_url: str, encounter_url: str) -> dict:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY_SYSTEM, "code": OBSERVATION_CATEGORY[observation.kind]}]}],
        "code": {"coding": [{"system": OBSERVATION_SYSTEM, "code": observation.code}], "text": observation.name},
        "subject": {"reference": patient_url},
        "encounter": {"reference": encounter_url},
        "effectiveDateTime": observation.observed_at.isoformat(),
        "valueQuantity": {"value": float(observation.value), "unit": observation.unit or None},
    }
    reference_range = {}
    if observation.reference_low is not None:
        reference_range["low"] = {"value": float(observation.reference_low), "unit": observation.unit or None}
    if observation.reference_high is not None:
        reference_range["high"] = {"value": float(observation.reference_high), "unit": observation.unit or None}
    if reference_range:
        resource["referenceRange"] = [reference_range]
    return _drop_none(resource)


def charge_item_resource(item, patient_url: str, encounter_url: str) -> dict:
    """A ChargeItem: ``priceOverride`` is the line's amount, the unit price and catalogue in extensions."""
    return {
        "resourceType": "ChargeItem",
        "status": "billable",
        "extension": [
            {"url": EXT_UNIT_PRICE, "valueMoney": _money(item.unit_price)},
            {"url": EXT_CATEGORY, "valueCode": item.category},
            {"url": EXT_CATALOGUE_CLASS, "valueCode": item.catalogue_class},
        ],
        "code": {"coding": [{"system": CHARGE_ITEM_SYSTEM, "code": item.item_code, "display": item.name}]},
        "subject": {"reference": patient_url},
        "context": {"reference": encounter_url},
        "quantity": {"value": float(item.quantity)},
        "priceOverride": _money(item.amount),
    }


def encounter_entries(encounter: Encounter, patient_url: str, *, organization_url: str | None = None) -> list[tuple[str, dict]]:
    """``[(fullUrl, resource)]`` of a visit: the Encounter, then its Conditions, MedicationRequests, Observations, ChargeItems."""
    encounter_url = resource_url("encounter", encounter.pk)
    diagnoses = list(encounter.diagnoses.all())
    entries = [(encounter_url, encounter_resource(encounter, patient_url, diagnoses, organization_url=organization_url))]
    entries += [
        (resource_url("condition", d.pk), condition_resource(d, encounter, patient_url, encounter_url)) for d in diagnoses
    ]
    entries += [
        (resource_url("medication", p.pk), medication_request_resource(p, encounter, patient_url, encounter_url))
        for p in encounter.prescriptions.all()
    ]
    entries += [
        (resource_url("observation", o.pk), observation_resource(o, patient_url, encounter_url))
        for o in encounter.observations.all()
    ]
    entries += [
        (resource_url("charge", c.pk), charge_item_resource(c, patient_url, encounter_url)) for c in encounter.charge_items.all()
    ]
    return entries


def export_bundle(patient: Patient, *, include_identifiers: bool, encounters=None, as_transaction: bool = False) -> dict:
    """The patient's record as a Bundle; validated against the FHIR model before it is returned.

    The Bundle carries an identifier of its own, so a member system can forward it as an inbound
    sync batch (whose batch ID is ``Bundle.identifier.value``).
    """
    patient_url = resource_url("patient", patient.pk)
    entries = [(patient_url, patient_resource(patient, include_identifiers))]
    if encounters is None:
        encounters = Encounter.objects.filter(patient=patient).select_related("institution")
    encounters = list(encounters)
    for encounter in encounters:
        entries += encounter_entries(encounter, patient_url)
    organizations: dict[str, dict] = {}

    def ref(kind: str, obj) -> str:
        if kind == "Organization":
            url = resource_url("institution", obj.pk)
            organizations.setdefault(url, organization_resource(obj))
            return url
        return resource_url(kind.lower(), obj.pk)

    entries += registry.fhir_entries(encounters, ref)
    entries += organizations.items()
    bundle = {
        "resourceType": "Bundle",
        "identifier": {"system": BUNDLE_ID_SYSTEM, "value": str(uuid.uuid4())},
        "type": "transaction" if as_transaction else "collection",
        "entry": [
            {"fullUrl": url, "resource": resource, **({"request": _request(resource)} if as_transaction else {})}
            for url, resource in entries
        ],
    }
    Bundle.model_validate(bundle)
    return bundle


def _request(resource: dict) -> dict:
    return {"method": "POST", "url": resource["resourceType"]}


def _drop_none(value):
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


# --- import --------------------------------------------------------------------------------------


@dataclass
class EntryResult:
    index: int
    full_url: str
    resource_type: str
    status: str  # created | matched | rejected
    reason: str = ""
    id: int | None = None

    def as_dict(self) -> dict:
        return {
            "index": self.index,
            "fullUrl": self.full_url,
            "resourceType": self.resource_type,
            "status": self.status,
            "reason": self.reason,
            "id": self.id,
        }


class BundleRejected(Invalid):
    """The Bundle as a whole is refused (not a transaction Bundle, too many entries, unreadable)."""

    code = "bundle_rejected"

    def __init__(self, message: str):
        super().__init__(message, field="bundle")


def _identifier(resource: dict, system: str) -> str:
    for identifier in resource.get("identifier") or []:
        if identifier.get("system") == system and identifier.get("value"):
            return str(identifier["value"]).strip()
    return ""


def _reference(resource: dict, key: str) -> str:
    return ((resource.get(key) or {}).get("reference") or "").strip()


def _extension(resource: dict, url: str, kind: str):
    for extension in resource.get("extension") or []:
        if extension.get("url") == url:
            return extension.get(kind)
    return None


def _patient_row(resource: dict, full_url: str) -> dict:
    names = resource.get("name") or []
    official = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    usual = next((n for n in names if n.get("use") == "usual"), {})
    name = official.get("text") or "".join((official.get("family") or "", *(official.get("given") or [])))
    address = (resource.get("address") or [{}])[0]
    phone = next((t.get("value") for t in resource.get("telecom") or [] if t.get("system") == "phone"), "")
    return {
        "name": name or "",
        "name_pinyin": usual.get("text") or "",
        "sex": SEX.get(resource.get("gender") or "", ""),
        "birth_date": parse_date(resource.get("birthDate") or "") if resource.get("birthDate") else None,
        "resident_id": _identifier(resource, RESIDENT_ID_SYSTEM),
        "insurance_number": _identifier(resource, INSURANCE_SYSTEM),
        "phone": phone or "",
        "address": address.get("text") or "",
        "village": address.get("district") or "",
        "local_id": _identifier(resource, LOCAL_ID_SYSTEM) or resource.get("id") or "",
    }


def _messages(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items())
    return " ".join(error.messages)


def _decimal(value) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def import_bundle(*, actor, institution, bundle: dict) -> list[EntryResult]:
    """Import a Bundle sent by ``institution``'s system; each entry gets its own result.

    Patients go through MPI matching (exact, linked, review or new).  An encounter already
    imported (same institution and identifier) is matched, not duplicated, so a retried bundle
    changes nothing.  Child resources that fail validation are rejected one by one; the rest of
    their encounter is kept.
    """
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BundleRejected(_("The body must be a FHIR Bundle."))
    if bundle.get("type") not in ("transaction", "batch", "collection"):
        raise BundleRejected(_("The Bundle type must be transaction, batch or collection."))
    try:
        Bundle.model_validate(bundle)
    except PydanticValidationError as error:
        raise BundleRejected(_("The Bundle is not valid FHIR: %(error)s") % {"error": str(error).splitlines()[0]}) from None

    entries = bundle.get("entry") or []
    results: dict[int, EntryResult] = {}
    patients_by_url: dict[str, Patient] = {}
    by_type: dict[str, list[tuple[int, str, dict]]] = {}
    for index, entry in enumerate(entries):
        resource = entry.get("resource") or {}
        full_url = entry.get("fullUrl") or f"#{index}"
        by_type.setdefault(resource.get("resourceType", ""), []).append((index, full_url, resource))

    # Patients, matched in one set-based pass.
    rows, positions = [], []
    for index, full_url, resource in by_type.pop("Patient", []):
        row = _patient_row(resource, full_url)
        try:
            services._clean_patient_data(row)
        except ValidationError as error:
            results[index] = EntryResult(index, full_url, "Patient", "rejected", _messages(error))
            continue
        rows.append(row)
        positions.append((index, full_url))
    if rows:
        received = services.receive_patients(actor=actor, institution=institution, rows=rows, source="fhir")
        for (index, full_url), outcome in zip(positions, received, strict=True):
            status = "matched" if outcome.outcome in ("exact", "linked") else "created"
            reason = _("queued for identity review") if outcome.outcome == "review" else ""
            results[index] = EntryResult(index, full_url, "Patient", status, reason, outcome.patient.pk)
            patients_by_url[full_url] = outcome.patient

    # Children grouped by the encounter they belong to.
    children: dict[str, list[tuple[int, str, dict]]] = {}
    child_types = ("Condition", "MedicationRequest", "Observation", "ChargeItem")
    for kind in child_types:
        for index, full_url, resource in by_type.pop(kind, []):
            encounter_url = _reference(resource, "context" if kind == "ChargeItem" else "encounter")
            children.setdefault(encounter_url, []).append((index, full_url, resource))

    for index, full_url, resource in by_type.pop("Encounter", []):
        own = children.pop(full_url, [])
        results.update(_import_encounter(actor, institution, index, full_url, resource, own, patients_by_url))

    for orphans in children.values():
        for index, full_url, resource in orphans:
            results[index] = EntryResult(
                index, full_url, resource["resourceType"], "rejected", _("It refers to no Encounter in this Bundle.")
            )
    for leftovers in by_type.values():
        for index, full_url, resource in leftovers:
            results[index] = EntryResult(
                index,
                full_url,
                resource.get("resourceType", ""),
                "rejected",
                _("Resources of type %(type)s are not imported.") % {"type": resource.get("resourceType", "")},
            )
    return [results[index] for index in sorted(results)]


def _child_input(kind: str, resource: dict):
    """Turn one child resource into the dict the encounter service takes; (section, row) or a ValidationError."""
    if kind == "Condition":
        coding = next((c for c in (resource.get("code") or {}).get("coding") or [] if c.get("system") == ICD10_SYSTEM), None)
        if coding is None:
            raise ValidationError({"code": [_("An ICD-10 coding is required.")]})
        return "diagnoses", {"code": coding.get("code", ""), "description": coding.get("display") or ""}
    if kind == "MedicationRequest":
        concept = resource.get("medicationCodeableConcept") or {}
        coding = (concept.get("coding") or [{}])[0]
        supply = ((resource.get("dispenseRequest") or {}).get("expectedSupplyDuration") or {}).get("value")
        dosage = ((resource.get("dosageInstruction") or [{}])[0]).get("text") or ""
        return "prescriptions", {
            "drug_name": concept.get("text") or coding.get("display") or "",
            "drug_code": coding.get("code") or "",
            "dose": dosage[:64],
            "frequency": "",
            "days": int(supply) if supply is not None else None,
        }
    if kind == "Observation":
        categories = {c.get("code") for cat in resource.get("category") or [] for c in cat.get("coding") or []}
        code = resource.get("code") or {}
        coding = (code.get("coding") or [{}])[0]
        quantity = resource.get("valueQuantity") or {}
        reference = (resource.get("referenceRange") or [{}])[0]
        observed = parse_datetime(resource.get("effectiveDateTime") or "") if resource.get("effectiveDateTime") else None
        return "observations", {
            "kind": ObservationKind.LAB if "laboratory" in categories else ObservationKind.VITAL,
            "code": coding.get("code") or "",
            "name": code.get("text") or coding.get("display") or coding.get("code") or "",
            "value": _decimal(quantity.get("value")),
            "unit": quantity.get("unit") or "",
            "reference_low": _decimal((reference.get("low") or {}).get("value")),
            "reference_high": _decimal((reference.get("high") or {}).get("value")),
            "observed_at": observed,
        }
    coding = ((resource.get("code") or {}).get("coding") or [{}])[0]
    unit_price = (_extension(resource, EXT_UNIT_PRICE, "valueMoney") or {}).get("value")
    quantity = (resource.get("quantity") or {}).get("value")
    return "charge_items", {
        "item_code": coding.get("code") or "",
        "name": coding.get("display") or "",
        "category": _extension(resource, EXT_CATEGORY, "valueCode") or "",
        "catalogue_class": _extension(resource, EXT_CATALOGUE_CLASS, "valueCode") or "",
        "quantity": _decimal(quantity),
        "unit_price": _decimal(unit_price),
    }


def _import_encounter(actor, institution, index, full_url, resource, children, patients_by_url) -> dict[int, EntryResult]:
    results: dict[int, EntryResult] = {}

    def reject_all(reason: str):
        results[index] = EntryResult(index, full_url, "Encounter", "rejected", reason)
        for child_index, child_url, child in children:
            results[child_index] = EntryResult(
                child_index, child_url, child["resourceType"], "rejected", _("Its Encounter was rejected.")
            )
        return results

    patient = patients_by_url.get(_reference(resource, "subject"))
    if patient is None:
        return reject_all(_("Its subject is no Patient in this Bundle."))
    provider = _identifier({"identifier": [(resource.get("serviceProvider") or {}).get("identifier") or {}]}, INSTITUTION_SYSTEM)
    if provider and provider != institution.code:
        return reject_all(_("The encounter was provided by another institution."))
    external_id = _identifier(resource, ENCOUNTER_ID_SYSTEM)
    if external_id:
        existing = Encounter.objects.filter(institution=institution, external_id=external_id).first()
        if existing is not None:
            results[index] = EntryResult(index, full_url, "Encounter", "matched", "", existing.pk)
            for child_index, child_url, child in children:
                results[child_index] = EntryResult(child_index, child_url, child["resourceType"], "matched", "", None)
            return results
    period = resource.get("period") or {}
    started_at = parse_datetime(period.get("start") or "") if period.get("start") else None
    ended_at = parse_datetime(period.get("end") or "") if period.get("end") else None
    kind = _extension(resource, EXT_ENCOUNTER_KIND, "valueCode") or (
        EncounterKind.INPATIENT if (resource.get("class") or {}).get("code") == "IMP" else EncounterKind.OUTPATIENT
    )
    primary_urls = {(d.get("condition") or {}).get("reference") for d in resource.get("diagnosis") or [] if d.get("rank") == 1}
    data = services.EncounterInput(
        kind=kind,
        started_at=started_at,
        ended_at=ended_at,
        chief_complaint=" ".join(r.get("text") or "" for r in resource.get("reasonCode") or []).strip(),
        external_id=external_id,
    )
    header_errors = services._validate_encounter(data, institution)
    if header_errors:
        return reject_all(_messages(ValidationError(header_errors)))
    accepted: list[tuple[int, str, str]] = []
    for child_index, child_url, child in children:
        kind_name = child["resourceType"]
        try:
            section, row = _child_input(kind_name, child)
            if section == "diagnoses":
                row["is_primary"] = child_url in primary_urls
            errors = services._validate_encounter(
                services.EncounterInput(kind=data.kind, started_at=data.started_at, **{section: [row]}), institution
            )
            if errors:
                raise ValidationError(errors)
        except ValidationError as error:
            results[child_index] = EntryResult(child_index, child_url, kind_name, "rejected", _messages(error))
            continue
        getattr(data, section).append(row)
        accepted.append((child_index, child_url, kind_name))
    if sum(bool(d.get("is_primary")) for d in data.diagnoses) > 1:
        for d in data.diagnoses[1:]:
            d["is_primary"] = False
    try:
        encounter = services.record_encounter(
            actor=actor, institution=institution, patient=patient, data=data, check_patient_access=False
        )
    except ValidationError as error:
        return reject_all(_messages(error))
    results[index] = EntryResult(index, full_url, "Encounter", "created", "", encounter.pk)
    for child_index, child_url, kind_name in accepted:
        results[child_index] = EntryResult(child_index, child_url, kind_name, "created", "", encounter.pk)
    return results
