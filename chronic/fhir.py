"""Chronic care as FHIR R4: an enrolment is an ``EpisodeOfCare`` with its ``CarePlan``; a follow-up is an
``Encounter`` with one ``Observation`` per measurement (LOINC where the measurement has one); a
family-doctor contract is a ``Contract``. Patients are referenced by the platform's logical id only:
no names, resident IDs or phones leave in these resources.
"""

import uuid

from records.fhir import INSTITUTION_SYSTEM

from . import rules as R
from .models import Contract, Enrolment, EnrolmentStatus, FollowUp

LOINC = "http://loinc.org"
PROGRAMME_SYSTEM = "urn:consortium:chronic-programme"
CONTROL_SYSTEM = "urn:consortium:chronic-control"
PACKAGE_SYSTEM = "urn:consortium:family-doctor-package"
EXT_RISK_LEVEL = "urn:consortium:fhir:chronic-risk-level"
EXT_TRIGGER = "urn:consortium:fhir:chronic-referral-trigger"
EPISODE_STATUS = {
    EnrolmentStatus.CANDIDATE: "planned",
    EnrolmentStatus.ENROLLED: "active",
    EnrolmentStatus.DECLINED: "cancelled",
    EnrolmentStatus.DISCHARGED: "finished",
}
CONTRACT_STATUS = {"signed": "executed", "renewed": "renewed", "ended": "terminated"}


def _ref(kind: str, pk) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'consortium/{kind}/{pk}')}"


def _patient(patient_id: int) -> dict:
    return {"reference": f"Patient/{patient_id}"}


def _org(institution) -> dict:
    return {"identifier": {"system": INSTITUTION_SYSTEM, "value": institution.code}}


def episode_of_care(enrolment: Enrolment) -> dict:
    resource = {
        "resourceType": "EpisodeOfCare",
        "id": str(enrolment.pk),
        "status": EPISODE_STATUS[enrolment.status],
        "type": [
            {"coding": [{"system": PROGRAMME_SYSTEM, "code": enrolment.programme.code, "display": enrolment.programme.name}]}
        ],
        "patient": _patient(enrolment.patient_id),
        "managingOrganization": _org(enrolment.institution),
    }
    if enrolment.enrolled_on:
        resource["period"] = {"start": enrolment.enrolled_on.isoformat()}
    if enrolment.team_id:
        resource["team"] = [{"reference": f"CareTeam/{enrolment.team_id}", "display": enrolment.team.name}]
    if enrolment.risk_level:
        resource["extension"] = [{"url": EXT_RISK_LEVEL, "valueCode": enrolment.risk_level}]
    return resource


def care_plan(enrolment: Enrolment) -> dict:
    """The plan: the programme version's targets as goals' text and the next follow-up as a scheduled activity."""
    rules = enrolment.version.rules
    due = enrolment.follow_ups.filter(status="due").first()
    resource = {
        "resourceType": "CarePlan",
        "id": str(enrolment.pk),
        "status": "active" if enrolment.status == EnrolmentStatus.ENROLLED else "completed",
        "intent": "plan",
        "title": f"{enrolment.programme.name} v{enrolment.version.number}",
        "description": R.format_conditions(rules["targets"]),
        "subject": _patient(enrolment.patient_id),
        "instantiatesUri": [f"{PROGRAMME_SYSTEM}/{enrolment.programme.code}/v{enrolment.version.number}"],
        "activity": [],
    }
    if enrolment.medication_plan:
        resource["note"] = [{"text": enrolment.medication_plan}]
    if due is not None:
        resource["activity"].append(
            {
                "detail": {
                    "kind": "Appointment",
                    "status": "scheduled",
                    "description": "follow-up",
                    "scheduledPeriod": {"start": due.due_on.isoformat()},
                }
            }
        )
    return resource


def enrolment_bundle(enrolment: Enrolment) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": episode_of_care(enrolment)}, {"resource": care_plan(enrolment)}],
    }


def follow_up_bundle(follow_up: FollowUp) -> dict:
    """A done follow-up as its Encounter and Observations (the measurements it was judged by)."""
    encounter_url = _ref("chronic-follow-up", follow_up.pk)
    patient_id = follow_up.enrolment.patient_id
    encounter = {
        "resourceType": "Encounter",
        "status": "finished" if follow_up.status == "done" else "cancelled",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "HH" if follow_up.method == "home" else "AMB",
        },
        "subject": _patient(patient_id),
        "episodeOfCare": [{"reference": f"EpisodeOfCare/{follow_up.enrolment_id}"}],
        "period": {"start": (follow_up.done_on or follow_up.due_on).isoformat()},
    }
    if follow_up.encounter_id:
        encounter["identifier"] = [{"system": "urn:consortium:encounter", "value": str(follow_up.encounter_id)}]
    if follow_up.control:
        encounter["extension"] = [
            {"url": CONTROL_SYSTEM, "valueCode": follow_up.control},
            *([{"url": EXT_TRIGGER, "valueCode": follow_up.trigger}] if follow_up.trigger else []),
        ]
    entries = [{"fullUrl": encounter_url, "resource": encounter}]
    defs = {vital.key: vital for vital, _required in R.measurement_defs(follow_up.version.rules)}
    for key, value in follow_up.measurements.items():
        vital = defs.get(key)
        coding = (
            [{"system": LOINC, "code": vital.code}]
            if vital and vital.code != vital.key  # a LOINC code (a programme's own measure without one keeps its key)
            else [{"system": PROGRAMME_SYSTEM, "code": key}]
        )
        entries.append(
            {
                "fullUrl": _ref("chronic-observation", f"{follow_up.pk}/{key}"),
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"coding": coding, "text": str(vital.label) if vital else key},
                    "subject": _patient(patient_id),
                    "encounter": {"reference": encounter_url},
                    "effectiveDateTime": follow_up.done_on.isoformat(),
                    "valueQuantity": {"value": float(value), "unit": vital.unit if vital else ""},
                },
            }
        )
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def contract_resource(contract: Contract) -> dict:
    return {
        "resourceType": "Contract",
        "id": str(contract.pk),
        "status": CONTRACT_STATUS[contract.status],
        "issued": contract.signed_at.isoformat(),
        "applies": {"start": contract.starts_on.isoformat(), "end": contract.ends_on.isoformat()},
        "subject": [_patient(member.pk) for member in contract.members.all()],
        "authority": [_org(contract.team.institution)],
        "type": {"coding": [{"system": PACKAGE_SYSTEM, "code": contract.package}]},
        "signer": [
            {
                "type": {"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.7"},
                "party": _patient(contract.holder_id),
                "signature": [
                    {
                        "type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.7"}],
                        "when": contract.signed_at.isoformat(),
                        "who": _patient(contract.holder_id),
                        "sigFormat": f"urn:consortium:signature:{contract.signature_method}",
                    }
                ],
            }
        ],
    }
