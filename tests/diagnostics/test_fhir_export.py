"""The patient's records FHIR export carries the diagnostic orders of the exported visits (records.registry hook)."""

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from diagnostics.models import OrderStatus
from records import fhir as records_fhir
from tests.factories import EncounterFactory

pytestmark = pytest.mark.django_db


def _by_type(bundle: dict) -> dict[str, list[dict]]:
    kinds: dict[str, list[dict]] = {}
    for entry in bundle["entry"]:
        kinds.setdefault(entry["resource"]["resourceType"], []).append(entry)
    return kinds


def test_the_record_export_carries_orders_reports_observations_and_imaging_studies(setting, client):
    xray = setting.order_in(OrderStatus.FINAL)
    lab = setting.lab_order()
    from diagnostics import services

    services.receive_sample(actor=setting.lab_reader, centre=setting.lab, barcode="LB0001")
    services.claim_order(lab.pk, actor=setting.lab_reader)
    services.sign_report(lab.pk, actor=setting.lab_reader, impression="血钾正常", observations=[{"code": "K", "value": "4.1"}])
    waiting = setting.order(setting.ecg12)
    client.force_login(setting.clinician)

    response = client.get(f"/api/v1/patients/{setting.patient.pk}/fhir/")
    assert response.status_code == 200, response.content
    bundle = response.json()
    Bundle.model_validate(bundle)
    for entry in bundle["entry"]:  # each resource on its own, against its R4 model
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])
    kinds = _by_type(bundle)
    requests = {e["resource"]["identifier"][0]["value"]: e["resource"] for e in kinds["ServiceRequest"]}
    assert set(requests) == {xray.accession, lab.accession, waiting.accession}
    assert requests[waiting.accession]["status"] == "active" and requests[xray.accession]["status"] == "completed"
    reports = {e["resource"]["basedOn"][0]["reference"]: e["resource"] for e in kinds["DiagnosticReport"]}
    assert set(reports) == {f"ServiceRequest/diag-order-{xray.pk}", f"ServiceRequest/diag-order-{lab.pk}"}
    imaging = reports[f"ServiceRequest/diag-order-{xray.pk}"]["imagingStudy"]
    assert imaging == [{"reference": f"ImagingStudy/diag-study-{xray.pk}"}]
    [study] = kinds["ImagingStudy"]
    assert study["resource"]["series"][0]["modality"]["code"] == "CR"
    lab_observations = [e["resource"] for e in kinds["Observation"] if e["resource"]["id"].startswith("diag-observation-")]
    assert [o["valueQuantity"] for o in lab_observations] == [{"value": 4.1, "unit": "mmol/L"}]

    # Every reference resolves inside the Bundle: urn:uuid entries, and relative ones against the entry's base.
    urls = {entry["fullUrl"] for entry in bundle["entry"]}
    patient_url = records_fhir.resource_url("patient", setting.patient.pk)
    encounter_url = records_fhir.resource_url("encounter", setting.encounter.pk)
    for request in requests.values():
        assert request["subject"]["reference"] == patient_url and request["encounter"]["reference"] == encounter_url
        assert request["requester"]["reference"] in urls and request["performer"][0]["reference"] in urls
    base = "https://consortium.example.cn/fhir/"
    for report in reports.values():
        for reference in [report["basedOn"][0], *report.get("result", []), *report.get("imagingStudy", [])]:
            assert base + reference["reference"] in urls
    organizations = [e["resource"]["identifier"][0]["value"] for e in kinds["Organization"]]
    assert sorted(organizations) == sorted({setting.city.code, setting.county.code, setting.township.code})

    transaction = client.get(f"/api/v1/patients/{setting.patient.pk}/fhir/?type=transaction").json()
    Bundle.model_validate(transaction)
    assert {e["request"]["url"] for e in transaction["entry"]} >= {"ServiceRequest", "DiagnosticReport", "ImagingStudy"}


def test_orders_travel_with_their_visit_only(setting):
    order = setting.order_in(OrderStatus.FINAL)
    other_visit = EncounterFactory(patient=setting.patient, institution=setting.township)
    exported = records_fhir.export_bundle(setting.patient, include_identifiers=False, encounters=[other_visit])
    assert "ServiceRequest" not in _by_type(exported) and "DiagnosticReport" not in _by_type(exported)
    assert order.accession not in str(exported)
    with_visit = records_fhir.export_bundle(setting.patient, include_identifiers=False, encounters=[setting.encounter])
    assert order.accession in str(_by_type(with_visit)["ServiceRequest"])
