"""What a clinic's device file is, read from its content, and whether it fits the order.

The file name's extension is never trusted.  In this order:

1. size: empty files and files above ``DIAGNOSTICS_ATTACHMENT_MAX_BYTES`` are refused;
2. kind: a DICOM Part 10 file (``DICM`` at byte 128), a PDF, a PNG or JPEG, or an XML export of an
   ECG cart (HL7 aECG, Philips, GE MUSE root elements);
3. for DICOM, the metadata is read with pydicom (without pixel data) and checked against the order:
   the modality must be one the service reads, and the patient in the file must be the order's
   patient — by the ID (the resident ID, the insurance number or the ordering institution's local
   number), and by birth date and sex where the file gives them.  A contradiction is refused with
   the field that contradicts, never stored.
"""

import datetime
import hashlib
import io

import pydicom
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from pydicom.errors import InvalidDicomError

from consortium.errors import Invalid
from records.models import PatientIdentifier

from .models import DICOM_MODALITIES, IMAGING_MODALITIES, AttachmentKind, Modality

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
MAX_FILES = 50
_IMAGES = ((b"%PDF-", "application/pdf"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))
#: Root elements of ECG exports the centre reads.
ECG_XML_ROOTS = (b"<AnnotatedECG", b"<restingecgdata", b"<RestingECG", b"<CardiologyXML")


def max_bytes() -> int:
    return getattr(settings, "DIAGNOSTICS_ATTACHMENT_MAX_BYTES", DEFAULT_MAX_BYTES)


def _read_all(upload) -> bytes:
    upload.seek(0)
    data = b"".join(upload.chunks()) if hasattr(upload, "chunks") else upload.read()
    upload.seek(0)
    return data


def sniff(data: bytes) -> tuple[str, str] | None:
    """``(kind, content type)`` of a file from its leading bytes, or None."""
    if len(data) > 132 and data[128:132] == b"DICM":
        return AttachmentKind.DICOM, "application/dicom"
    for magic, content_type in _IMAGES:
        if data.startswith(magic):
            kind = AttachmentKind.ECG_PDF if content_type == "application/pdf" else AttachmentKind.ECG_IMAGE
            return kind, content_type
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<") and any(root in head for root in ECG_XML_ROOTS):
        return AttachmentKind.ECG_XML, "application/xml"
    return None


def _dicom_date(value) -> datetime.date | None:
    text = str(value or "").strip()
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return datetime.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _patient_ids(order) -> set[str]:
    patient = order.patient
    ids = {value for value in (patient.resident_id, patient.insurance_number) if value}
    ids |= set(PatientIdentifier.objects.filter(patient=patient).values_list("value", flat=True))
    return {value.strip().upper() for value in ids}


def read_dicom(data: bytes, name: str) -> dict:
    try:
        dataset = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    except (InvalidDicomError, ValueError, EOFError, KeyError, TypeError, AttributeError):
        raise Invalid(_("%(name)s is not a readable DICOM file.") % {"name": name}, field="file") from None
    if "SOPInstanceUID" not in dataset and "StudyInstanceUID" not in dataset:
        raise Invalid(_("%(name)s is not a readable DICOM file.") % {"name": name}, field="file")
    return {
        "patient_id": str(dataset.get("PatientID", "") or "").strip(),
        "birth_date": _dicom_date(dataset.get("PatientBirthDate")),
        "sex": str(dataset.get("PatientSex", "") or "").strip().upper(),
        "modality": str(dataset.get("Modality", "") or "").strip().upper(),
        "study_uid": str(dataset.get("StudyInstanceUID", "") or ""),
        "series_uid": str(dataset.get("SeriesInstanceUID", "") or ""),
        "sop_uid": str(dataset.get("SOPInstanceUID", "") or ""),
        "study_date": _dicom_date(dataset.get("StudyDate")),
    }


def check_dicom_against_order(meta: dict, order, name: str) -> None:
    """Refuse a DICOM file whose modality or patient contradicts the order (see the module docstring)."""
    allowed = DICOM_MODALITIES.get(order.modality, set())
    if meta["modality"] not in allowed:
        raise Invalid(
            _("%(name)s is a %(found)s image, but the order is for %(expected)s.")
            % {"name": name, "found": meta["modality"] or "?", "expected": Modality(order.modality).label},
            field="file",
        )
    if not meta["study_uid"]:
        raise Invalid(_("%(name)s has no study instance UID.") % {"name": name}, field="file")
    if not meta["patient_id"]:
        raise Invalid(_("%(name)s names no patient ID; the device must record the patient.") % {"name": name}, field="file")
    if meta["patient_id"].upper() not in _patient_ids(order):
        raise Invalid(
            _("%(name)s belongs to another patient (its patient ID does not match the order).") % {"name": name}, field="file"
        )
    patient = order.patient
    if meta["birth_date"] is not None and meta["birth_date"] != patient.birth_date:
        raise Invalid(_("%(name)s gives another birth date than the order's patient.") % {"name": name}, field="file")
    if meta["sex"] in {"M", "F"} and patient.sex in {"M", "F"} and meta["sex"] != patient.sex:
        raise Invalid(_("%(name)s gives another sex than the order's patient.") % {"name": name}, field="file")


def inspect_attachment(upload, order) -> dict:
    """Check one uploaded file for ``order`` and return the attachment's fields; raise Invalid if unfit."""
    name = getattr(upload, "name", "") or "file"
    if upload.size == 0:
        raise Invalid(_("%(name)s is empty.") % {"name": name}, field="file")
    if upload.size > max_bytes():
        raise Invalid(
            _("%(name)s is %(size)s; a file may be at most %(limit)s.")
            % {"name": name, "size": filesizeformat(upload.size), "limit": filesizeformat(max_bytes())},
            field="file",
        )
    data = _read_all(upload)
    found = sniff(data)
    if found is None:
        raise Invalid(_("%(name)s is not a DICOM, PDF, PNG, JPEG or ECG XML file.") % {"name": name}, field="file")
    kind, content_type = found
    facts = {
        "kind": kind,
        "content_type": content_type,
        "size": upload.size,
        "sha256": hashlib.sha256(data).hexdigest(),
        "original_name": name[:200],
    }
    if order.modality in IMAGING_MODALITIES:
        if kind != AttachmentKind.DICOM:
            raise Invalid(_("%(name)s: an imaging order takes DICOM files.") % {"name": name}, field="file")
        meta = read_dicom(data, name)
        check_dicom_against_order(meta, order, name)
        facts.update(
            study_uid=meta["study_uid"][:64],
            series_uid=meta["series_uid"][:64],
            sop_uid=meta["sop_uid"][:64],
            dicom_modality=meta["modality"][:16],
            study_date=meta["study_date"],
        )
    elif order.modality == Modality.ECG:
        if kind == AttachmentKind.DICOM:
            raise Invalid(_("%(name)s: an ECG order takes the cart's PDF, image or XML export.") % {"name": name}, field="file")
    elif kind == AttachmentKind.DICOM:
        raise Invalid(_("%(name)s: this order does not take DICOM files.") % {"name": name}, field="file")
    else:
        facts["kind"] = AttachmentKind.DOCUMENT
    return facts
