"""The platform's one FHIR vocabulary: identifier systems, code systems, extension URLs and code maps.

Every FHIR resource the platform writes or reads names things with these: the records API's export
and import (``records/fhir.py``), sync's outbound event messages (``sync/fhir.py``, built through the
records builders) and sync's inbound Bundle uploads (``sync/fhir_inbound.py``).  So a Bundle one path
writes is understood by every other.  Systems of our own are ``urn:consortium:…``; national and HL7
systems keep their official URIs.
"""

from .models import EncounterKind, ObservationKind

# --- identifier systems ---------------------------------------------------------------------------
RESIDENT_ID_SYSTEM = "urn:oid:2.16.156.10011.1.1"  # 居民身份证号码 (national OID)
INSURANCE_SYSTEM = "urn:consortium:insurance-number"
LOCAL_ID_SYSTEM = "urn:consortium:local-patient-id"
INSTITUTION_SYSTEM = "urn:consortium:institution"
ENCOUNTER_ID_SYSTEM = "urn:consortium:encounter"
REFERRAL_ID_SYSTEM = "urn:consortium:referral"
OUTBOX_EVENT_SYSTEM = "urn:consortium:outbox-event"
BUNDLE_ID_SYSTEM = "urn:consortium:bundle"


def aggregate_system(aggregate_type: str) -> str:
    """The identifier system of an outbox aggregate without a richer resource (``records.allergy`` …)."""
    return f"urn:consortium:{aggregate_type}"


# --- code systems ---------------------------------------------------------------------------------
ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"
OBSERVATION_SYSTEM = "urn:consortium:observation"
CHARGE_ITEM_SYSTEM = "urn:consortium:charge-item"
DRUG_SYSTEM = "urn:consortium:drug"
EVENT_SYSTEM = "urn:consortium:event"
MESSAGE_SOURCE = "urn:consortium:outbox"
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONDITION_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-category"
OBSERVATION_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
SNOMED_SYSTEM = "http://snomed.info/sct"
UCUM_SYSTEM = "http://unitsofmeasure.org"

# --- extensions -----------------------------------------------------------------------------------
EXT_UNIT_PRICE = "urn:consortium:fhir:unit-price"
EXT_CATEGORY = "urn:consortium:fhir:charge-category"
EXT_CATALOGUE_CLASS = "urn:consortium:fhir:catalogue-class"
EXT_ENCOUNTER_KIND = "urn:consortium:fhir:encounter-kind"
EXT_REFERRAL_DIRECTION = "urn:consortium:fhir:referral-direction"
EXT_REFERRAL_STATUS = "urn:consortium:fhir:referral-status"

# --- code maps ------------------------------------------------------------------------------------
#: Our sex codes to FHIR administrative gender, and back (FHIR "other" has no code of ours: unknown).
GENDER = {"M": "male", "F": "female", "U": "unknown"}
SEX = {"male": "M", "female": "F", "unknown": "U", "other": "U"}
#: Encounter kind to the v3 ActCode of ``Encounter.class``, and the codes we read back.
ACT_CODE = {EncounterKind.OUTPATIENT: "AMB", EncounterKind.INPATIENT: "IMP", EncounterKind.FOLLOW_UP: "AMB"}
KIND_OF_ACT_CODE = {
    "AMB": EncounterKind.OUTPATIENT,
    "IMP": EncounterKind.INPATIENT,
    "ACUTE": EncounterKind.INPATIENT,
    "NONAC": EncounterKind.INPATIENT,
    "HH": EncounterKind.FOLLOW_UP,
}
OBSERVATION_CATEGORY = {ObservationKind.VITAL: "vital-signs", ObservationKind.LAB: "laboratory"}
