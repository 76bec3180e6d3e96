"""Demo shared diagnostics: the city hospital runs an imaging, an ECG and a remote consultation
centre, the county hospital a laboratory; orders from 鸣凤镇卫生院 in every state, a critical value
still awaiting acknowledgement, recognised items with prior results, synthetic DICOM files.

Idempotent: every order carries a demo external ID and is created only if missing; the same
patients and visits are picked in the same order each time (by primary key).
"""

import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from consortium.models import Consortium, Institution, Membership, Staff

from . import consultations, critical, recognition, services
from .dicom import synthetic_dicom, uid_for
from .models import Analyte, Centre, CentreKind, CentreService, Consultation, Order, Reader, RecognisedItem

ECG_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<AnnotatedECG xmlns="urn:hl7-org:v3">'
    '<code code="93000" codeSystemName="CPT-4"/><effectiveTime><low value="{when}"/></effectiveTime></AnnotatedECG>\n'
)

CENTRES = [
    ("YC-IMG", "宜昌市中心医院影像诊断中心", CentreKind.IMAGING, "YC-CH01", 30),
    ("YC-ECG", "宜昌市中心医院心电诊断中心", CentreKind.ECG, "YC-CH01", 15),
    ("YC-RC", "宜昌市中心医院远程会诊中心", CentreKind.CONSULTATION, "YC-CH01", 30),
    ("YA-LAB", "远安县人民医院临床检验中心", CentreKind.LAB, "YA-CH01", 30),
]
# centre, code, name, modality, body site, specimen, turnaround (routine, urgent, stat), fee code, fee name, fee, second reader
SERVICES = [
    ("YC-IMG", "XR-CHEST", "胸部X线摄影（正位）", "CR", "胸部", "", (24, 4, 1), "250201001", "X线摄影远程诊断费", "35.00", False),
    ("YC-IMG", "CT-HEAD", "头颅CT平扫", "CT", "头部", "", (24, 2, 1), "250301001", "CT远程诊断费", "120.00", True),
    ("YC-ECG", "ECG-12", "常规十二导联心电图", "ECG", "", "", (12, 2, 1), "310701001", "心电图远程诊断费", "20.00", False),
    ("YA-LAB", "LAB-BMP", "电解质+血糖", "LAB", "", "静脉血", (24, 4, 1), "250302001", "生化检验费", "28.50", False),
]
ANALYTES = [
    ("LAB-BMP", "K", "血钾", "mmol/L", "3.5", "5.3", "2.5", "6.5"),
    ("LAB-BMP", "NA", "血钠", "mmol/L", "137", "147", "120", "160"),
    ("LAB-BMP", "GLU", "空腹血糖", "mmol/L", "3.9", "6.1", "2.2", "22.2"),
]
READERS = [
    ("YC-IMG", "city_radiologist", ["CR", "CT"], "放射科主治医师"),
    ("YC-IMG", "city_radiologist_senior", ["CR", "CT"], "放射科主任医师（二级审核）"),
    ("YC-ECG", "city_ecg_reader", ["ECG"], "心电图室主治医师"),
    ("YA-LAB", "yuanan_lab_reader", ["LAB"], "检验科主管技师"),
]
RECOGNISED = [
    ("XR-CHEST", "胸部X线摄影", 30, "consortium"),
    ("LAB-BMP", "电解质+血糖", 7, "county"),
    ("ECG-12", "十二导联心电图", 14, "consortium"),
]
DIAGNOSTICS_ADMIN_MODELS = ["centre", "centreservice", "analyte", "reader", "recogniseditem", "order", "criticalvalue"]


def _user(username):
    return get_user_model().objects.get(username=username)


def _seed_catalogue(consortium) -> dict[str, Centre]:
    members = list(Membership.objects.active().filter(consortium=consortium).values_list("institution_id", flat=True))
    centres = {}
    for code, name, kind, institution_code, minutes in CENTRES:
        institution = Institution.objects.get(code=institution_code)
        centre, created = Centre.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "kind": kind,
                "institution": institution,
                "consortium": consortium,
                "critical_ack_minutes": minutes,
            },
        )
        if created:
            centre.served_institutions.set([pk for pk in members if pk != institution.pk])
        centres[code] = centre
    for centre_code, code, name, modality, site, specimen, hours, fee_code, fee_name, fee, second in SERVICES:
        CentreService.objects.get_or_create(
            centre=centres[centre_code],
            code=code,
            defaults={
                "name": name,
                "modality": modality,
                "body_site": site,
                "specimen": specimen,
                "turnaround_routine_hours": hours[0],
                "turnaround_urgent_hours": hours[1],
                "turnaround_stat_hours": hours[2],
                "fee_item_code": fee_code,
                "fee_name": fee_name,
                "fee_amount": Decimal(fee),
                "fee_category": "laboratory" if modality == "LAB" else "examination",
                "fee_catalogue_class": "A",
                "requires_second_reader": second,
            },
        )
    for service_code, code, name, unit, low, high, critical_low, critical_high in ANALYTES:
        Analyte.objects.get_or_create(
            service=CentreService.objects.get(code=service_code),
            code=code,
            defaults={
                "name": name,
                "unit": unit,
                "reference_low": Decimal(low),
                "reference_high": Decimal(high),
                "critical_low": Decimal(critical_low),
                "critical_high": Decimal(critical_high),
            },
        )
    for centre_code, username, modalities, qualification in READERS:
        Reader.objects.get_or_create(
            centre=centres[centre_code],
            staff=Staff.objects.get(user__username=username),
            defaults={"modalities": modalities, "qualification": qualification},
        )
    for code, name, days, scope in RECOGNISED:
        RecognisedItem.objects.get_or_create(
            consortium=consortium, service_code=code, defaults={"name": name, "validity_days": days, "scope": scope}
        )
    admin = get_user_model().objects.filter(username="consortium_admin").first()
    if admin is not None:
        admin.user_permissions.add(
            *Permission.objects.filter(content_type__app_label="diagnostics", content_type__model__in=DIAGNOSTICS_ADMIN_MODELS)
        )
    return centres


def _dicom(order_patient, modality: str, key: str, when: datetime.datetime) -> SimpleUploadedFile:
    data = synthetic_dicom(
        patient_id=order_patient.resident_id,
        birth_date=order_patient.birth_date,
        sex=order_patient.sex,
        modality=modality,
        study_uid=uid_for("demo-study", key),
        series_uid=uid_for("demo-series", key),
        sop_uid=uid_for("demo-sop", key),
        study_date=timezone.localdate(when),
        body_part="CHEST" if modality == "CR" else "HEAD",
    )
    return SimpleUploadedFile(f"{key}.dcm", data)


def _ecg(key: str, when: datetime.datetime) -> SimpleUploadedFile:
    return SimpleUploadedFile(f"{key}.xml", ECG_XML.format(when=when.strftime("%Y%m%d%H%M%S")).encode())


def _visits(institution_code: str) -> list:
    from records.models import Encounter

    visits, seen = [], set()
    encounters = (
        Encounter.objects.filter(institution__code=institution_code, patient__home_institution__code=institution_code)
        .exclude(patient__resident_id="")
        .select_related("patient")
        .order_by("pk")
    )
    for encounter in encounters.iterator():
        if encounter.patient_id not in seen:
            seen.add(encounter.patient_id)
            visits.append(encounter)
        if len(visits) == 16:
            break
    return visits


def seed_diagnostics_demo(today: datetime.date | None = None) -> dict[str, int]:
    """Create the demo centres and orders once; returns what it created."""
    consortium = Consortium.objects.filter(code="YC-YLT").first()
    if consortium is None or not Staff.objects.filter(user__username="city_radiologist").exists():
        return {}
    created: dict[str, int] = {}
    with transaction.atomic():
        centres = _seed_catalogue(consortium)
        if Order.objects.filter(external_id__startswith="demo-").exists():
            return created
        created = _seed_orders(centres)
    return created


def _seed_orders(centres) -> dict[str, int]:
    doctor, radiologist, senior = _user("mingfeng_doctor"), _user("city_radiologist"), _user("city_radiologist_senior")
    ecg_reader, lab_reader, coordinator = _user("city_ecg_reader"), _user("yuanan_lab_reader"), _user("city_coordinator")
    visits = _visits("YA-MF")
    if len(visits) < 14:
        return {}
    xray = CentreService.objects.get(code="XR-CHEST")
    ct = CentreService.objects.get(code="CT-HEAD")
    ecg = CentreService.objects.get(code="ECG-12")
    lab = CentreService.objects.get(code="LAB-BMP")
    now = timezone.now().replace(second=0, microsecond=0)
    counts = {"diagnostic orders": 0}

    def order(n, service, visit, when, *, files=(), barcodes=(), urgency="routine", reason="", send=True, repeat=""):
        counts["diagnostic orders"] += 1
        return services.create_order(
            actor=doctor,
            encounter=visit,
            service=service,
            urgency=urgency,
            reason=reason or visit.chief_complaint or "门诊检查",
            clinical_question="",
            attachments=list(files),
            barcodes=list(barcodes),
            send=send,
            repeat_reason=repeat,
            external_id=f"demo-{n:02d}",
            now=when,
        )

    def chest(n, visit, when, **kwargs):
        return order(n, xray, visit, when, files=[_dicom(visit.patient, "CR", f"demo-{n}", when)], **kwargs)

    day = datetime.timedelta(days=1)
    # A chest X-ray read and signed three days ago: the recognised prior result of its patient.
    prior = chest(1, visits[0], now - 3 * day, reason="咳嗽咳痰一周，排除肺炎")
    services.claim_order(prior.pk, actor=radiologist, now=now - 3 * day + datetime.timedelta(hours=1))
    services.sign_report(
        prior.pk,
        actor=radiologist,
        findings="双肺纹理增粗，未见明显实变影。心影大小正常。双侧膈面光整。",
        impression="双肺纹理增粗，考虑支气管炎；未见肺炎征象。",
        now=now - 3 * day + datetime.timedelta(hours=2),
    )
    recognition.use_prior_result(actor=doctor, encounter=visits[0], prior_order_id=prior.pk, now=now - day)
    chest(
        2,
        visits[0],
        now - datetime.timedelta(hours=3),
        repeat="clinically_changed",
        urgency="urgent",
        reason="发热加重，复查胸片",
    )
    # Every other state of an imaging order.
    chest(3, visits[1], now - datetime.timedelta(hours=1), send=False, reason="体检胸片")
    scheduled = order(
        4, ct, visits[2], now - datetime.timedelta(hours=5), files=[], send=False, urgency="urgent", reason="头晕伴呕吐"
    )
    services.schedule_order(scheduled.pk, actor=radiologist, scheduled_at=now + 2 * day, now=now - datetime.timedelta(hours=4))
    chest(5, visits[3], now - datetime.timedelta(hours=2), urgency="urgent", reason="胸痛半天")
    claimed = chest(6, visits[4], now - datetime.timedelta(hours=6), reason="慢性咳嗽")
    services.claim_order(claimed.pk, actor=radiologist, now=now - datetime.timedelta(hours=1))
    preliminary = order(
        7,
        ct,
        visits[5],
        now - day,
        files=[_dicom(visits[5].patient, "CT", "demo-7", now - day)],
        urgency="urgent",
        reason="头部外伤",
    )
    services.claim_order(preliminary.pk, actor=radiologist, now=now - day + datetime.timedelta(hours=1))
    services.sign_report(
        preliminary.pk,
        actor=radiologist,
        impression="颅内未见明显出血及骨折。",
        findings="脑实质密度均匀，中线结构居中。",
        now=now - day + datetime.timedelta(hours=2),
    )
    amended = chest(8, visits[6], now - 2 * day, reason="气促")
    services.claim_order(amended.pk, actor=senior, now=now - 2 * day + datetime.timedelta(hours=1))
    services.sign_report(amended.pk, actor=senior, impression="心影增大。", now=now - 2 * day + datetime.timedelta(hours=2))
    services.amend_report(
        amended.pk,
        actor=senior,
        reason="补充描述胸腔积液",
        impression="心影增大，右侧少量胸腔积液。",
        now=now - 2 * day + datetime.timedelta(hours=3),
    )
    rejected = chest(9, visits[7], now - day, reason="外伤后胸痛")
    services.reject_order(
        rejected.pk, actor=radiologist, reason="图像曝光不足，请重新拍摄后上传", now=now - day + datetime.timedelta(hours=1)
    )
    cancelled = chest(10, visits[8], now - day, send=False, reason="复查")
    services.cancel_order(cancelled.pk, actor=doctor, reason="患者已转上级医院", now=now - day + datetime.timedelta(minutes=30))
    # ECG: one normal, one critical that escalated before the clinic acknowledged and closed it.
    normal = order(11, ecg, visits[9], now - 2 * day, files=[_ecg("demo-11", now - 2 * day)], reason="心悸")
    services.claim_order(normal.pk, actor=ecg_reader, now=now - 2 * day + datetime.timedelta(minutes=20))
    services.sign_report(
        normal.pk,
        actor=ecg_reader,
        impression="窦性心律，正常心电图。",
        result_code="SR",
        result_display="窦性心律",
        now=now - 2 * day + datetime.timedelta(minutes=40),
    )
    stemi = order(12, ecg, visits[10], now - day, files=[_ecg("demo-12", now - day)], urgency="stat", reason="胸痛30分钟")
    services.claim_order(stemi.pk, actor=ecg_reader, now=now - day + datetime.timedelta(minutes=5))
    services.sign_report(
        stemi.pk,
        actor=ecg_reader,
        impression="急性下壁ST段抬高型心肌梗死可能，建议立即转诊。",
        result_code="STEMI",
        result_display="ST段抬高",
        critical_description="急性下壁ST段抬高（STEMI）",
        now=now - day + datetime.timedelta(minutes=10),
    )
    value = stemi.critical_values.get()
    critical.escalate(value.pk, now=value.ack_due_at + datetime.timedelta(minutes=1))
    critical.acknowledge_critical(value.pk, actor=doctor, now=value.ack_due_at + datetime.timedelta(minutes=4))
    critical.close_critical(
        value.pk,
        actor=doctor,
        action_taken="已电话联系120，患者转运至市中心医院胸痛中心",
        now=value.ack_due_at + datetime.timedelta(minutes=20),
    )
    # Laboratory: samples on their way, a report, a rejected sample, and a critical value pending now.
    order(13, lab, visits[11], now - datetime.timedelta(hours=2), barcodes=["YAMF26000013"], reason="高血压随访")
    report = order(14, lab, visits[12], now - day, barcodes=["YAMF26000014"], reason="糖尿病复查")
    services.receive_sample(
        actor=lab_reader, centre=centres["YA-LAB"], barcode="YAMF26000014", now=now - day + datetime.timedelta(hours=2)
    )
    services.claim_order(report.pk, actor=lab_reader, now=now - day + datetime.timedelta(hours=3))
    services.sign_report(
        report.pk,
        actor=lab_reader,
        impression="血糖偏高，电解质正常。",
        observations=[{"code": "K", "value": "4.2"}, {"code": "NA", "value": "140"}, {"code": "GLU", "value": "8.3"}],
        now=now - day + datetime.timedelta(hours=4),
    )
    haemolysed = order(15, lab, visits[13], now - datetime.timedelta(hours=4), barcodes=["YAMF26000015"], reason="乏力")
    services.reject_sample(
        haemolysed.samples.get().pk, actor=lab_reader, reason="标本溶血，请重新采集", now=now - datetime.timedelta(hours=3)
    )
    pending = order(
        16,
        lab,
        visits[1],
        now - datetime.timedelta(hours=1),
        barcodes=["YAMF26000016"],
        urgency="urgent",
        reason="服用利尿剂后乏力",
    )
    services.receive_sample(
        actor=lab_reader, centre=centres["YA-LAB"], barcode="YAMF26000016", now=now - datetime.timedelta(minutes=40)
    )
    services.claim_order(pending.pk, actor=lab_reader, now=now - datetime.timedelta(minutes=20))
    services.sign_report(
        pending.pk,
        actor=lab_reader,
        impression="血钾危急偏低。",
        observations=[{"code": "K", "value": "2.3"}, {"code": "NA", "value": "133"}, {"code": "GLU", "value": "5.6"}],
        now=now - datetime.timedelta(minutes=5),
    )
    # Remote consultations: one requested, one answered with a referral recommended.
    asked = consultations.request_consultation(
        actor=doctor,
        encounter=visits[2],
        centre=centres["YC-RC"],
        question="反复头晕，血压波动大，是否需调整方案或上转？",
        now=now - day,
    )
    consultations.schedule_consultation(
        asked.pk,
        actor=coordinator,
        scheduled_at=now + day,
        participants="神经内科 张主任；鸣凤镇卫生院 刘建华",
        meeting_link="https://meeting.example.cn/yc-rc/0001",
        now=now - day + datetime.timedelta(hours=1),
    )
    answered = consultations.request_consultation(
        actor=doctor, encounter=visits[10], centre=centres["YC-RC"], question="胸痛伴心电图异常，请心内科会诊", now=now - 2 * day
    )
    consultations.give_opinion(
        answered.pk,
        actor=coordinator,
        opinion="考虑急性冠脉综合征，建议立即上转行冠脉造影。",
        recommendations="阿司匹林300mg嚼服，硝酸甘油舌下含服，立即转运。",
        recommends_referral=True,
        now=now - 2 * day + datetime.timedelta(hours=1),
    )
    counts["remote consultations"] = Consultation.objects.count()
    return counts
