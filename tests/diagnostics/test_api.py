"""The API for member systems: place an order, upload a DICOM file, read the report and its FHIR resources."""

import pytest

from consortium.models import ApiClient, ApiClientKind
from diagnostics import services
from diagnostics.models import Order, OrderStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def his(setting):
    client = ApiClient(name="卫生院HIS", kind=ApiClientKind.MEMBER_SYSTEM, institution=setting.township)
    token = client.issue_token()
    client.save()
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_a_member_system_orders_uploads_and_reads_the_report_as_fhir(setting, client, his):
    response = client.post(
        "/api/v1/diagnostics/orders/",
        {"encounter": setting.encounter.pk, "centre": "CITY-IMG", "service": "XR-CHEST", "urgency": "urgent", "reason": "咳嗽"},
        content_type="application/json",
        **his,
    )
    assert response.status_code == 201, response.content
    order_id = response.json()["id"]
    refused = client.post(
        f"/api/v1/diagnostics/orders/{order_id}/attachments/", {"file": setting.dicom(patient_id="NOT-HIM")}, **his
    )
    assert refused.status_code == 400 and refused["Content-Type"].startswith("application/problem+json")
    assert [e["field"] for e in refused.json()["errors"]] == ["file"]
    uploaded = client.post(
        f"/api/v1/diagnostics/orders/{order_id}/attachments/", {"file": setting.dicom(), "send": "true"}, **his
    )
    assert uploaded.status_code == 201 and uploaded.json()["dicom_modality"] == "CR"
    assert Order.objects.get(pk=order_id).status == OrderStatus.RECEIVED
    services.claim_order(order_id, actor=setting.radiologist)
    services.sign_report(order_id, actor=setting.radiologist, impression="未见异常", findings="双肺清晰")
    detail = client.get(f"/api/v1/diagnostics/orders/{order_id}/", **his).json()
    assert detail["status"] == "final" and detail["reports"][0]["impression"] == "未见异常"
    bundle = client.get(f"/api/v1/diagnostics/orders/{order_id}/fhir/", **his).json()
    kinds = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    assert kinds == ["ServiceRequest", "ImagingStudy", "DiagnosticReport"]
    report = bundle["entry"][-1]["resource"]
    assert report["status"] == "final" and report["imagingStudy"] == [{"reference": f"ImagingStudy/diag-study-{order_id}"}]
    from fhir.resources.R4B.bundle import Bundle  # noqa: PLC0415 (validation only)

    Bundle.model_validate(bundle)


def test_lab_orders_by_api_carry_observations(setting, client, his):
    response = client.post(
        "/api/v1/diagnostics/orders/",
        {"encounter": setting.encounter.pk, "centre": "CTY-LAB", "service": "LAB-BMP", "reason": "复查", "barcodes": ["LB7777"]},
        content_type="application/json",
        **his,
    )
    assert response.status_code == 201
    order_id = response.json()["id"]
    services.receive_sample(actor=setting.lab_reader, centre=setting.lab, barcode="LB7777")
    services.claim_order(order_id, actor=setting.lab_reader)
    services.sign_report(order_id, actor=setting.lab_reader, impression="正常", observations=[{"code": "K", "value": "4.1"}])
    bundle = client.get(f"/api/v1/diagnostics/orders/{order_id}/fhir/", **his).json()
    observation = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation")
    assert observation["valueQuantity"] == {"value": 4.1, "unit": "mmol/L"}
    assert observation["referenceRange"][0]["low"]["value"] == 3.5


def test_another_institution_cannot_read_the_order(setting, client, chain):
    order = setting.order(send=True)
    other = ApiClient(name="外地HIS", kind=ApiClientKind.MEMBER_SYSTEM, institution=chain["outsider"])
    token = other.issue_token()
    other.save()
    response = client.get(f"/api/v1/diagnostics/orders/{order.pk}/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 404
    assert client.get("/api/v1/diagnostics/orders/", HTTP_AUTHORIZATION=f"Bearer {token}").json()["count"] == 0


def test_the_outbox_message_of_a_report_carries_the_fhir_report(setting):
    from consortium.models import OutboxEvent
    from sync.fhir import build_message

    order = setting.order(send=True)
    services.claim_order(order.pk, actor=setting.radiologist)
    services.sign_report(order.pk, actor=setting.radiologist, impression="未见异常")
    event = OutboxEvent.objects.filter(event_type="diag_report", aggregate_id=str(order.pk)).get()
    message = build_message(event)
    kinds = [entry["resource"]["resourceType"] for entry in message["entry"]]
    assert kinds[0] == "MessageHeader" and {"ServiceRequest", "ImagingStudy", "DiagnosticReport", "Patient"} <= set(kinds)
    header = message["entry"][0]["resource"]
    assert header["focus"][0]["reference"].endswith(f"DiagnosticReport/diag-report-{order.pk}")
