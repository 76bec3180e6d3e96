"""The pages as a clinician, a reader and an administrator use them."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from diagnostics.models import Centre, CentreKind, CriticalStatus, Order, OrderStatus

pytestmark = pytest.mark.django_db


def test_clinic_orders_with_a_dicom_file_and_the_reader_reports_a_critical_finding(setting, client):
    client.force_login(setting.clinician)
    page = client.get(f"/diagnostics/orders/new/?encounter={setting.encounter.pk}")
    assert page.status_code == 200 and "胸部X线摄影" in page.content.decode()
    response = client.post(
        "/diagnostics/orders/new/",
        {
            "encounter": setting.encounter.pk,
            "service": setting.xray.pk,
            "urgency": "urgent",
            "reason": "咳嗽两周",
            "files": [setting.dicom()],
        },
    )
    order = Order.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/diagnostics/orders/{order.pk}/"
    assert order.status == OrderStatus.RECEIVED
    assert client.get("/diagnostics/").status_code == 200

    client.force_login(setting.radiologist)
    worklist = client.get(f"/diagnostics/centres/{setting.imaging.pk}/worklist/")
    assert worklist.status_code == 200 and order.accession in worklist.content.decode()
    assert client.post(f"/diagnostics/orders/{order.pk}/claim/").status_code == 302
    signed = client.post(
        f"/diagnostics/orders/{order.pk}/sign/",
        {"sign-impression": "右侧张力性气胸", "sign-findings": "右肺压缩约70%", "sign-critical_description": "张力性气胸"},
    )
    assert signed.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.FINAL
    value = order.critical_values.get()
    assert client.get(f"/diagnostics/orders/{order.pk}/").status_code == 200
    assert client.get(f"/diagnostics/orders/{order.pk}/print/").status_code == 200
    attachment = order.attachments.get()
    download = client.get(f"/diagnostics/orders/{order.pk}/attachments/{attachment.pk}/")
    assert download.status_code == 200 and download["Content-Type"] == "application/dicom"
    assert download["Content-Disposition"].startswith("attachment;")
    assert download["Content-Security-Policy"] == "sandbox; default-src 'none'"

    client.force_login(setting.clinician)
    assert "张力性气胸" in client.get("/diagnostics/").content.decode()
    detail = client.get(f"/diagnostics/critical/{value.pk}/")
    assert detail.status_code == 200 and 'id="acknowledge-form"' in detail.content.decode()
    assert client.post(f"/diagnostics/critical/{value.pk}/", {"act": "acknowledge", "note": "已知晓"}).status_code == 302
    refused = client.post(f"/diagnostics/critical/{value.pk}/", {"act": "close", "action_taken": ""})
    assert refused.status_code == 400
    assert client.post(f"/diagnostics/critical/{value.pk}/", {"act": "close", "action_taken": "已联系120转诊"}).status_code == 302
    value.refresh_from_db()
    assert value.status == CriticalStatus.CLOSED
    log = client.get("/diagnostics/critical/")
    assert log.status_code == 200 and 'id="critical-indicator"' in log.content.decode()
    patient_page = client.get(f"/records/patients/{setting.patient.pk}/")
    assert patient_page.status_code == 200 and order.accession in patient_page.content.decode()


def test_a_mismatched_dicom_file_is_shown_on_the_files_field(setting, client):
    client.force_login(setting.clinician)
    response = client.post(
        "/diagnostics/orders/new/",
        {
            "encounter": setting.encounter.pk,
            "service": setting.xray.pk,
            "urgency": "routine",
            "reason": "复查",
            "files": [setting.dicom(patient_id="SOMEONE-ELSE")],
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["files"] and Order.objects.count() == 0


def test_a_reader_cannot_open_another_centres_worklist_or_order(setting, client):
    ecg = setting.order(setting.ecg12, attachments=[SimpleUploadedFile("e.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 20)], send=True)
    client.force_login(setting.radiologist)
    assert client.get(f"/diagnostics/centres/{setting.ecg.pk}/worklist/").status_code == 404
    assert client.get(f"/diagnostics/orders/{ecg.pk}/").status_code == 404


def test_lab_pages_receive_samples_by_barcode(setting, client):
    order = setting.lab_order(barcodes=["LB9001"])
    client.force_login(setting.lab_reader)
    page = client.get(f"/diagnostics/centres/{setting.lab.pk}/worklist/")
    assert "LB9001" in page.content.decode()
    assert client.post(f"/diagnostics/centres/{setting.lab.pk}/samples/", {"barcode": "LB9001"}).status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.RECEIVED


def test_configuration_pages_for_the_consortium_administrator(setting, client, chain):
    client.force_login(chain["staff"]["consortium_admin"].user)
    listing = client.get("/diagnostics/centres/")
    assert listing.status_code == 200 and "市影像中心" in listing.content.decode()
    assert client.get(f"/diagnostics/centres/{setting.imaging.pk}/edit/").status_code == 200
    bad = client.post(
        "/diagnostics/centres/new/",
        {
            "form": "centre",
            "code": "OUT-IMG",
            "name": "外地影像",
            "kind": "imaging",
            "institution": setting.city.pk,
            "consortium": setting.consortium.pk,
            "critical_ack_minutes": 30,
            "is_active": "on",
            "served_institutions": [chain["outsider"].pk],
        },
    )
    assert bad.status_code == 400 and not Centre.objects.filter(code="OUT-IMG").exists()
    good = client.post(
        "/diagnostics/centres/new/",
        {
            "form": "centre",
            "code": "CITY-PATH",
            "name": "市病理中心",
            "kind": "pathology",
            "institution": setting.city.pk,
            "consortium": setting.consortium.pk,
            "critical_ack_minutes": 60,
            "is_active": "on",
            "served_institutions": [setting.township.pk],
        },
    )
    assert good.status_code == 302
    centre = Centre.objects.get(code="CITY-PATH")
    assert centre.kind == CentreKind.PATHOLOGY and list(centre.served_institutions.all()) == [setting.township]
    assert client.get("/diagnostics/indicators/").status_code == 200


def test_consultation_pages(setting, client, chain):
    centre = Centre.objects.create(
        code="CITY-RC",
        name="市远程会诊中心",
        kind=CentreKind.CONSULTATION,
        institution=setting.city,
        consortium=setting.consortium,
    )
    centre.served_institutions.set([setting.township])
    client.force_login(setting.clinician)
    assert client.get(f"/diagnostics/consultations/new/?encounter={setting.encounter.pk}").status_code == 200
    response = client.post(
        "/diagnostics/consultations/new/", {"encounter": setting.encounter.pk, "centre": centre.pk, "question": "胸痛待查"}
    )
    assert response.status_code == 302
    consultation = centre.consultations.get()
    client.force_login(chain["staff"]["coordinator"].user)
    assert (
        client.post(
            f"/diagnostics/consultations/{consultation.pk}/",
            {"act": "give_opinion", "give_opinion-opinion": "建议上转心内科", "give_opinion-recommends_referral": "on"},
        ).status_code
        == 302
    )
    client.force_login(setting.clinician)
    page = client.get(f"/diagnostics/consultations/{consultation.pk}/").content.decode()
    assert f"/referrals/new/?encounter={setting.encounter.pk}" in page
    assert client.get("/diagnostics/consultations/").status_code == 200
    assert client.get("/diagnostics/notifications/").status_code == 200
