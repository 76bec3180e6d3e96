"""FHIR R4 resources of a diagnostic order: ``ServiceRequest``, ``DiagnosticReport`` with its
``Observation``s and, for imaging, an ``ImagingStudy`` (metadata only: UIDs, modality, series).

The builders take a ``ref`` callback that gives the reference of the patient, the visit and an
organization, so the same resources serve the API's Bundle (relative references) and the outbox
message (``urn:uuid`` references inside the message).
"""

from collections.abc import Callable

from .models import IMAGING_MODALITIES, REPORTED_STATUSES, Interpretation, Order, OrderStatus

SYSTEM_BASE = "https://consortium.example.cn/fhir"
ACCESSION_SYSTEM = f"{SYSTEM_BASE}/sid/accession"
SERVICE_SYSTEM = f"{SYSTEM_BASE}/CodeSystem/diagnostic-service"
RESULT_SYSTEM = f"{SYSTEM_BASE}/CodeSystem/diagnostic-result"
ANALYTE_SYSTEM = f"{SYSTEM_BASE}/CodeSystem/analyte"
DICOM_UID = "urn:dicom:uid"
DCM_SYSTEM = "http://dicom.nema.org/resources/ontology/DCM"
INTERPRETATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"

REQUEST_STATUS = {
    OrderStatus.REQUESTED: "active",
    OrderStatus.SCHEDULED: "active",
    OrderStatus.RECEIVED: "active",
    OrderStatus.CLAIMED: "active",
    OrderStatus.PRELIMINARY: "active",
    OrderStatus.FINAL: "completed",
    OrderStatus.AMENDED: "completed",
    OrderStatus.REJECTED: "revoked",
    OrderStatus.CANCELLED: "revoked",
}
PRIORITY = {"routine": "routine", "urgent": "urgent", "stat": "stat"}
CATEGORY = {"LAB": ("LAB", "Laboratory"), "PATH": ("PAT", "Pathology"), "ECG": ("EC", "Electrocardiac")}
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0074"


def _drop_empty(resource: dict) -> dict:
    return {key: value for key, value in resource.items() if value not in (None, "", [], {})}


def _decimal(value):
    return float(value) if value is not None else None


def service_request(order: Order, ref: Callable) -> dict:
    return _drop_empty(
        {
            "resourceType": "ServiceRequest",
            "id": f"diag-order-{order.pk}",
            "identifier": [{"system": ACCESSION_SYSTEM, "value": order.accession}],
            "status": REQUEST_STATUS[order.status],
            "intent": "order",
            "priority": PRIORITY.get(order.urgency, "routine"),
            "code": {"coding": [{"system": SERVICE_SYSTEM, "code": order.service.code, "display": order.service.name}]},
            "subject": {"reference": ref("Patient", order.patient)},
            "encounter": {"reference": ref("Encounter", order.encounter)},
            "requester": {"reference": ref("Organization", order.ordering_institution)},
            "performer": [{"reference": ref("Organization", order.centre.institution), "display": order.centre.name}],
            "authoredOn": order.requested_at.isoformat(),
            "reasonCode": [{"text": order.reason}],
            "note": [{"text": order.clinical_question}] if order.clinical_question else [],
            "bodySite": [{"text": order.body_site}] if order.body_site else [],
            "specimen": [{"display": s.barcode} for s in order.samples.all()],
        }
    )


def imaging_study(order: Order, ref: Callable) -> dict | None:
    files = [a for a in order.attachments.all() if a.study_uid]
    if order.modality not in IMAGING_MODALITIES or not files:
        return None
    series: dict[str, list] = {}
    for attachment in files:
        series.setdefault(attachment.series_uid, []).append(attachment)
    return _drop_empty(
        {
            "resourceType": "ImagingStudy",
            "id": f"diag-study-{order.pk}",
            "identifier": [{"system": DICOM_UID, "value": f"urn:oid:{files[0].study_uid}"}],
            "status": "available",
            "modality": [{"system": DCM_SYSTEM, "code": files[0].dicom_modality}],
            "subject": {"reference": ref("Patient", order.patient)},
            "started": files[0].study_date.isoformat() if files[0].study_date else None,
            "basedOn": [{"reference": f"ServiceRequest/diag-order-{order.pk}"}],
            "numberOfSeries": len(series),
            "numberOfInstances": len(files),
            "series": [
                {
                    "uid": uid,
                    "modality": {"system": DCM_SYSTEM, "code": items[0].dicom_modality},
                    "numberOfInstances": len(items),
                    "instance": [
                        {
                            "uid": item.sop_uid,
                            "sopClass": {"system": "urn:ietf:rfc:3986", "code": "urn:oid:1.2.840.10008.5.1.4.1.1.1"},
                        }
                        for item in items
                    ],
                }
                for uid, items in series.items()
            ],
        }
    )


def observations(order: Order, version, ref: Callable) -> list[dict]:
    rows = []
    for row in version.observations.all():
        reference = {}
        if row.reference_low is not None:
            reference["low"] = {"value": _decimal(row.reference_low), "unit": row.unit}
        if row.reference_high is not None:
            reference["high"] = {"value": _decimal(row.reference_high), "unit": row.unit}
        rows.append(
            _drop_empty(
                {
                    "resourceType": "Observation",
                    "id": f"diag-observation-{row.pk}",
                    "status": "amended" if version.amendment_reason else "final",
                    "code": {"coding": [{"system": ANALYTE_SYSTEM, "code": row.code, "display": row.name}]},
                    "subject": {"reference": ref("Patient", order.patient)},
                    "effectiveDateTime": version.signed_at.isoformat() if version.signed_at else None,
                    "valueQuantity": {"value": _decimal(row.value), "unit": row.unit},
                    "referenceRange": [reference] if reference else [],
                    "interpretation": []
                    if row.interpretation == Interpretation.NORMAL
                    else [{"coding": [{"system": INTERPRETATION_SYSTEM, "code": row.interpretation}]}],
                }
            )
        )
    return rows


def diagnostic_report(order: Order, version, observation_refs: list[str], study_ref: str | None, ref: Callable) -> dict:
    category = CATEGORY.get(order.modality, ("RAD", "Radiology"))
    return _drop_empty(
        {
            "resourceType": "DiagnosticReport",
            "id": f"diag-report-{order.pk}",
            "identifier": [{"system": ACCESSION_SYSTEM, "value": f"{order.accession}-v{version.number}"}],
            "basedOn": [{"reference": f"ServiceRequest/diag-order-{order.pk}"}],
            "status": {OrderStatus.FINAL: "final", OrderStatus.AMENDED: "amended"}.get(order.status, "preliminary"),
            "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": category[0], "display": category[1]}]}],
            "code": {"coding": [{"system": SERVICE_SYSTEM, "code": order.service.code, "display": order.service.name}]},
            "subject": {"reference": ref("Patient", order.patient)},
            "encounter": {"reference": ref("Encounter", order.encounter)},
            "issued": version.signed_at.isoformat() if version.signed_at else None,
            "performer": [{"reference": ref("Organization", order.centre.institution), "display": order.centre.name}],
            "result": [{"reference": r} for r in observation_refs],
            "imagingStudy": [{"reference": study_ref}] if study_ref else [],
            "conclusion": f"{version.findings}\n{version.impression}".strip() if version.findings else version.impression,
            "conclusionCode": [
                {"coding": [{"system": RESULT_SYSTEM, "code": version.result_code, "display": version.result_display}]}
            ]
            if version.result_code
            else [],
        }
    )


def order_resources(order: Order, ref: Callable, *, version=None) -> list[dict]:
    """The order's resources in dependency order: ServiceRequest, ImagingStudy, Observations, DiagnosticReport."""
    resources = [service_request(order, ref)]
    study = imaging_study(order, ref)
    if study is not None:
        resources.append(study)
    if version is None and order.status in REPORTED_STATUSES:
        version = order.report_versions.filter(signed_at__isnull=False).order_by("-number").first()
    if version is not None:
        rows = observations(order, version, ref)
        resources += rows
        resources.append(
            diagnostic_report(
                order,
                version,
                [f"Observation/{row['id']}" for row in rows],
                f"ImagingStudy/{study['id']}" if study else None,
                ref,
            )
        )
    return resources


def relative_ref(kind: str, obj) -> str:
    """A relative reference (``Patient/12``), for the API's Bundle."""
    return f"{kind}/{obj.pk}"


def bundle(order: Order) -> dict:
    """A collection Bundle of the order's resources, for the API."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": full_url(r), "resource": r} for r in order_resources(order, relative_ref)],
    }


def full_url(resource: dict) -> str:
    """The entry URL of one of these resources in any Bundle; their relative references resolve against it."""
    return f"{SYSTEM_BASE}/{resource['resourceType']}/{resource['id']}"


def record_entries(encounters, ref: Callable) -> list[tuple[str, dict]]:
    """The orders of the exported visits, for the patient's record export (``records.registry`` FHIR source)."""
    orders = (
        Order.objects.filter(encounter__in=[encounter.pk for encounter in encounters])
        .select_related("service", "centre__institution", "ordering_institution", "patient", "encounter")
        .prefetch_related("attachments", "samples")
        .order_by("requested_at", "pk")
    )
    return [(full_url(resource), resource) for order in orders for resource in order_resources(order, ref)]
