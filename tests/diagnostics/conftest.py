import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from consortium.models import InstitutionLevel, StaffRole
from diagnostics import services
from diagnostics.dicom import synthetic_dicom, uid_for
from diagnostics.models import Analyte, Centre, CentreKind, CentreService, Modality, OrderStatus, Reader
from tests.factories import EncounterFactory, InstitutionFactory, MembershipFactory, PatientFactory, StaffFactory

#: How to bring a fresh order to each status: the actions, in order (see Setting.take for who takes them).
PATHS = {
    OrderStatus.REQUESTED: [],
    OrderStatus.SCHEDULED: ["schedule"],
    OrderStatus.RECEIVED: ["send"],
    OrderStatus.CLAIMED: ["send", "claim"],
    OrderStatus.PRELIMINARY: ["send", "claim", "submit_for_review"],
    OrderStatus.FINAL: ["send", "claim", "sign"],
    OrderStatus.AMENDED: ["send", "claim", "sign", "amend"],
    OrderStatus.REJECTED: ["reject"],
    OrderStatus.CANCELLED: ["cancel"],
}
SECOND_READING = {"submit_for_review", "review", "return"}

ECG_XML = b'<?xml version="1.0" encoding="UTF-8"?>\n<AnnotatedECG xmlns="urn:hl7-org:v3"><id root="1"/></AnnotatedECG>\n'
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class Setting:
    """A chain whose city hospital runs an imaging and an ECG centre and whose county hospital runs a lab."""

    def __init__(self, chain):
        self.chain = chain
        self.consortium = chain["consortium"]
        self.city = chain["city"]
        self.township = chain["township"]
        self.village = chain["village"]
        self.county = InstitutionFactory(code="COUNTY", name="县人民医院", level=InstitutionLevel.COUNTY_HOSPITAL)
        MembershipFactory(consortium=self.consortium, institution=self.county)
        self.staff = chain["staff"]
        self.clinician = self.staff["clinician"].user
        self.radiologist = StaffFactory(
            user__username="radiologist", institution=self.city, role=StaffRole.DIAGNOSTIC_READER, display_name="王影像"
        ).user
        self.radiologist2 = StaffFactory(
            user__username="radiologist2", institution=self.city, role=StaffRole.DIAGNOSTIC_READER, display_name="赵复核"
        ).user
        self.ecg_reader = StaffFactory(
            user__username="ecgreader", institution=self.city, role=StaffRole.DIAGNOSTIC_READER, display_name="孙心电"
        ).user
        self.lab_reader = StaffFactory(
            user__username="labreader", institution=self.county, role=StaffRole.DIAGNOSTIC_READER, display_name="钱检验"
        ).user
        served = [self.township, self.village, self.county]
        self.imaging = Centre.objects.create(
            code="CITY-IMG", name="市影像中心", kind=CentreKind.IMAGING, institution=self.city, consortium=self.consortium
        )
        self.ecg = Centre.objects.create(
            code="CITY-ECG", name="市心电中心", kind=CentreKind.ECG, institution=self.city, consortium=self.consortium
        )
        self.lab = Centre.objects.create(
            code="CTY-LAB", name="县检验中心", kind=CentreKind.LAB, institution=self.county, consortium=self.consortium
        )
        for centre in (self.imaging, self.ecg, self.lab):
            centre.served_institutions.set(served)
        fee = {"fee_category": "examination", "fee_catalogue_class": "A"}
        self.xray = CentreService.objects.create(
            centre=self.imaging,
            code="XR-CHEST",
            name="胸部X线摄影",
            modality=Modality.CR,
            body_site="胸部",
            fee_item_code="250201",
            fee_name="X线摄影诊断费",
            fee_amount=Decimal("35.00"),
            **fee,
        )
        self.ct = CentreService.objects.create(
            centre=self.imaging,
            code="CT-HEAD",
            name="头颅CT",
            modality=Modality.CT,
            body_site="头部",
            requires_second_reader=True,
            fee_item_code="250301",
            fee_name="CT诊断费",
            fee_amount=Decimal("120.00"),
            **fee,
        )
        self.ecg12 = CentreService.objects.create(
            centre=self.ecg,
            code="ECG-12",
            name="十二导联心电图",
            modality=Modality.ECG,
            fee_item_code="310701",
            fee_name="心电图诊断费",
            fee_amount=Decimal("20.00"),
            **fee,
        )
        self.bmp = CentreService.objects.create(
            centre=self.lab,
            code="LAB-BMP",
            name="血生化（电解质+血糖）",
            modality=Modality.LAB,
            specimen="静脉血",
            fee_item_code="250302",
            fee_name="生化检验费",
            fee_amount=Decimal("28.50"),
            fee_category="laboratory",
            fee_catalogue_class="A",
        )
        Analyte.objects.create(
            service=self.bmp,
            code="K",
            name="血钾",
            unit="mmol/L",
            reference_low=Decimal("3.5"),
            reference_high=Decimal("5.3"),
            critical_low=Decimal("2.5"),
            critical_high=Decimal("6.5"),
        )
        Analyte.objects.create(
            service=self.bmp,
            code="GLU",
            name="血糖",
            unit="mmol/L",
            reference_low=Decimal("3.9"),
            reference_high=Decimal("6.1"),
            critical_low=Decimal("2.2"),
            critical_high=Decimal("22.2"),
        )
        Reader.objects.create(centre=self.imaging, staff=self.radiologist.staff, modalities=["CR", "CT"])
        Reader.objects.create(centre=self.imaging, staff=self.radiologist2.staff, modalities=["CR", "CT"])
        Reader.objects.create(centre=self.ecg, staff=self.ecg_reader.staff, modalities=["ECG"])
        Reader.objects.create(centre=self.lab, staff=self.lab_reader.staff, modalities=["LAB"])
        self.patient = PatientFactory(home_institution=self.township, name="李四", sex="M")
        self.encounter = EncounterFactory(patient=self.patient, institution=self.township)

    def dicom(self, *, patient=None, modality="CR", birth_date=None, sex=None, patient_id=None, name="chest.dcm", n=1):
        patient = patient or self.patient
        data = synthetic_dicom(
            patient_id=patient.resident_id if patient_id is None else patient_id,
            birth_date=patient.birth_date if birth_date is None else birth_date,
            sex=patient.sex if sex is None else sex,
            modality=modality,
            study_uid=uid_for("study", patient.pk, modality, n),
            series_uid=uid_for("series", patient.pk, modality, n),
            sop_uid=uid_for("sop", patient.pk, modality, n),
            study_date=timezone.localdate(),
        )
        return SimpleUploadedFile(name, data, content_type="application/octet-stream")

    def order(self, service=None, *, actor=None, send=False, **kwargs):
        service = service or self.xray
        options = {
            "actor": actor or self.clinician,
            "encounter": self.encounter,
            "service": service,
            "urgency": "urgent",
            "reason": "咳嗽两周，发热",
            "clinical_question": "肺炎？",
            "send": send,
        }
        if service.modality in {Modality.CR, Modality.CT} and "attachments" not in kwargs:
            options["attachments"] = [self.dicom(modality=service.modality)]
        options.update(kwargs)
        return services.create_order(**options)

    def take(self, order, act, actor=None, **kwargs):
        """Take one action with the actor the table expects."""
        pk = order.pk
        reader = actor or self.radiologist
        if act == "send":
            return services.send_order(pk, actor=actor or self.clinician, **kwargs)
        if act == "schedule":
            kwargs.setdefault("scheduled_at", timezone.now() + datetime.timedelta(hours=2))
            return services.schedule_order(pk, actor=reader, **kwargs)
        if act == "receive":
            return services.receive_order(pk, actor=reader, **kwargs)
        if act == "claim":
            return services.claim_order(pk, actor=reader, **kwargs)
        if act == "release":
            return services.release_order(pk, actor=reader, **kwargs)
        if act in ("sign", "submit_for_review"):
            kwargs.setdefault("impression", "双肺纹理增粗，未见实变。")
            kwargs.setdefault("findings", "双肺纹理增粗。心影不大。")
            return services.sign_report(pk, actor=reader, **kwargs)
        if act == "review":
            return services.review_report(pk, actor=actor or self.radiologist2, **kwargs)
        if act == "return":
            kwargs.setdefault("reason", "请补充纵隔描述")
            return services.return_report(pk, actor=actor or self.radiologist2, **kwargs)
        if act == "amend":
            kwargs.setdefault("reason", "补充：右下肺小结节")
            kwargs.setdefault("impression", "双肺纹理增粗；右下肺小结节，建议随访。")
            return services.amend_report(pk, actor=reader, **kwargs)
        if act == "reject":
            kwargs.setdefault("reason", "图像模糊，请重拍")
            return services.reject_order(pk, actor=reader, **kwargs)
        if act == "cancel":
            kwargs.setdefault("reason", "患者拒绝检查")
            return services.cancel_order(pk, actor=actor or self.clinician, **kwargs)
        raise AssertionError(act)

    def order_in(self, status, act=None):
        second = status == OrderStatus.PRELIMINARY or (act in SECOND_READING and "sign" not in PATHS[status])
        order = self.order(self.ct if second else self.xray)
        for step in PATHS[status]:
            order = self.take(order, step)
        order.refresh_from_db()
        assert order.status == status
        return order

    def lab_order(self, barcodes=("LB0001",), **kwargs):
        return self.order(self.bmp, barcodes=list(barcodes), send=True, **kwargs)


@pytest.fixture(autouse=True)
def english():
    """Service messages in English for the assertions (notifications still use the default language)."""
    with translation.override("en"):
        yield


@pytest.fixture
def setting(chain, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Setting(chain)
