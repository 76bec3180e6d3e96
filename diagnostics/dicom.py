"""Small synthetic DICOM files, for the demo and tests: a real Part 10 file written with pydicom.

The pixel data is a deterministic 8-bit gradient written as bytes (no numpy), so the same
arguments always give the same file.
"""

import datetime
import hashlib
import io

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
COMPUTED_RADIOGRAPHY = "1.2.840.10008.5.1.4.1.1.1"
UID_ROOT = "1.2.826.0.1.3680043.10.1234"


def uid_for(*parts) -> str:
    """A stable DICOM UID under the platform's root, derived from ``parts``."""
    digest = int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:24], 16)
    return f"{UID_ROOT}.{digest}"[:64]


def _pixels(rows: int, columns: int, seed: int) -> bytes:
    return bytes(((x + y + seed) * 255 // (rows + columns)) % 256 for y in range(rows) for x in range(columns))


def synthetic_dicom(
    *,
    patient_id: str,
    patient_name: str = "ANONYMOUS",
    birth_date: datetime.date | None = None,
    sex: str = "",
    modality: str = "CR",
    study_uid: str,
    series_uid: str,
    sop_uid: str,
    study_date: datetime.date,
    accession: str = "",
    body_part: str = "CHEST",
    rows: int = 64,
    columns: int = 64,
) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = COMPUTED_RADIOGRAPHY if modality in {"CR", "DX"} else SECONDARY_CAPTURE
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.PatientID = patient_id
    ds.PatientName = patient_name
    ds.PatientBirthDate = birth_date.strftime("%Y%m%d") if birth_date else ""
    ds.PatientSex = sex
    ds.Modality = modality
    ds.StudyDate = study_date.strftime("%Y%m%d")
    ds.StudyTime = "090000"
    ds.AccessionNumber = accession[:16]
    ds.BodyPartExamined = body_part
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = _pixels(rows, columns, int(sop_uid[-4:]) if sop_uid[-4:].isdigit() else 0)

    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
