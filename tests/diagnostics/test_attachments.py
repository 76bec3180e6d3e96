"""Device files are taken by content and checked against the order; a contradiction is refused whole."""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from consortium.errors import Invalid
from diagnostics import services
from diagnostics.models import AttachmentKind, Order, OrderAttachment, OrderStatus

from .conftest import ECG_XML, PNG

pytestmark = pytest.mark.django_db


def test_a_dicom_file_is_read_with_pydicom_and_stored(setting):
    order = setting.order(send=True)
    attachment = order.attachments.get()
    assert attachment.kind == AttachmentKind.DICOM and attachment.dicom_modality == "CR"
    assert attachment.study_uid.startswith("1.2.826.0.1.3680043.10.1234.")
    assert attachment.file.name.startswith("diagnostics/") and attachment.file.name.endswith(".dcm")
    assert attachment.file.read(132)[128:] == b"DICM"
    assert order.status == OrderStatus.RECEIVED


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"patient_id": "OTHER-PATIENT-1"}, "another patient"),
        ({"patient_id": ""}, "names no patient"),
        ({"modality": "CT"}, "CT image"),
        ({"birth_date": datetime.date(1950, 1, 1)}, "birth date"),
        ({"sex": "F"}, "sex"),
    ],
)
def test_a_dicom_file_contradicting_the_order_is_refused_and_nothing_is_written(setting, changes, words):
    upload = setting.dicom(**changes)
    with pytest.raises(Invalid) as error:
        setting.order(attachments=[upload], send=True)
    assert error.value.field == "file"
    assert words in error.value.message and "chest.dcm" in error.value.message
    assert Order.objects.count() == 0 and OrderAttachment.objects.count() == 0


def test_the_institution_local_number_identifies_the_patient_too(setting):
    from records.models import PatientIdentifier

    PatientIdentifier.objects.create(patient=setting.patient, institution=setting.township, value="MZ2026-0042")
    order = setting.order(attachments=[setting.dicom(patient_id="mz2026-0042")], send=True)
    assert order.attachments.count() == 1


def test_a_file_added_later_is_checked_the_same_way(setting):
    order = setting.order()
    with pytest.raises(Invalid) as error:
        services.add_attachment(order.pk, actor=setting.clinician, upload=setting.dicom(patient_id="X", n=2))
    assert error.value.field == "file"
    services.add_attachment(order.pk, actor=setting.clinician, upload=setting.dicom(n=2, name="lateral.dcm"))
    assert order.attachments.count() == 2


@pytest.mark.parametrize(
    ("content", "name", "words"),
    [
        (b"", "empty.dcm", "empty"),
        (b"MZ\x90\x00 not a study", "virus.exe", "not a DICOM"),
        (PNG, "photo.png", "imaging order takes DICOM"),
        (b"\x00" * 128 + b"DICM" + b"\x00\x01garbage", "broken.dcm", "not a readable DICOM"),
    ],
)
def test_an_imaging_order_refuses_what_is_not_a_good_dicom_file(setting, content, name, words):
    with pytest.raises(Invalid) as error:
        setting.order(attachments=[SimpleUploadedFile(name, content)])
    assert words in error.value.message and name in error.value.message
    assert Order.objects.count() == 0


def test_a_file_above_the_size_limit_is_refused(setting, settings):
    settings.DIAGNOSTICS_ATTACHMENT_MAX_BYTES = 1000
    with pytest.raises(Invalid) as error:
        setting.order()
    assert "at most" in error.value.message or "最大" in error.value.message
    assert Order.objects.count() == 0


@pytest.mark.parametrize(
    ("content", "kind"),
    [(ECG_XML, AttachmentKind.ECG_XML), (PNG, AttachmentKind.ECG_IMAGE), (b"%PDF-1.7\n%%EOF", AttachmentKind.ECG_PDF)],
)
def test_an_ecg_order_takes_the_carts_exports(setting, content, kind):
    order = setting.order(setting.ecg12, attachments=[SimpleUploadedFile("ecg.bin", content)], send=True)
    assert order.attachments.get().kind == kind and order.status == OrderStatus.RECEIVED


def test_an_ecg_order_refuses_a_dicom_image(setting):
    with pytest.raises(Invalid) as error:
        setting.order(setting.ecg12, attachments=[setting.dicom()])
    assert "ECG" in error.value.message


def test_the_same_file_twice_is_refused(setting):
    with pytest.raises(Exception) as error:
        setting.order(attachments=[setting.dicom(), setting.dicom()])
    assert "already attached" in str(error.value) or "已" in str(error.value)
    assert Order.objects.count() == 0
