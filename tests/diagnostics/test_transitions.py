"""Every transition of the four tables, every illegal one, and what each writes."""

import datetime

import pytest
from django.utils import timezone

from consortium.errors import IllegalTransition, Invalid, NotPermitted
from consortium.models import AuditEvent, OutboxEvent
from diagnostics import consultations, critical, services
from diagnostics.models import (
    ConsultationStatus,
    CriticalStatus,
    DiagnosticEvent,
    Order,
    OrderStatus,
    SampleStatus,
)
from diagnostics.transitions import (
    CONSULTATION_TRANSITIONS,
    CRITICAL_TRANSITIONS,
    ORDER_TRANSITIONS,
    SAMPLE_TRANSITIONS,
    Act,
    ConsultationAct,
    CriticalAct,
    SampleAct,
    Side,
)

from .conftest import PATHS

pytestmark = pytest.mark.django_db


def _pairs(table, statuses, acts):
    legal = sorted(table, key=lambda key: (key[0], key[1]))
    illegal = sorted(((s, a) for s in statuses for a in acts if (s, a) not in table), key=lambda key: (key[0], key[1]))
    return legal, illegal


ORDER_LEGAL, ORDER_ILLEGAL = _pairs(ORDER_TRANSITIONS, OrderStatus, Act)


def test_every_order_status_is_reachable_and_the_paths_cover_them():
    targets = {t.target for t in ORDER_TRANSITIONS.values()} | {OrderStatus.REQUESTED}
    assert targets == set(OrderStatus)
    assert set(PATHS) == set(OrderStatus)


@pytest.mark.parametrize(("source", "act"), ORDER_LEGAL, ids=[f"{s}-{a}" for s, a in ORDER_LEGAL])
def test_legal_order_transition(setting, source, act):
    order = setting.order_in(source, act)
    counts = DiagnosticEvent.objects.count(), OutboxEvent.objects.count(), AuditEvent.objects.count()
    after = setting.take(order, act)
    after.refresh_from_db()
    assert after.status == ORDER_TRANSITIONS[(source, act)].target
    event = DiagnosticEvent.objects.filter(order=after, critical_value__isnull=True).last()
    assert (event.from_status, event.to_status, event.action) == (source, after.status, act)
    assert event.actor_id is not None
    assert DiagnosticEvent.objects.count() == counts[0] + 1
    assert OutboxEvent.objects.count() == counts[1] + 1
    assert AuditEvent.objects.count() == counts[2] + 1
    payload = OutboxEvent.objects.filter(aggregate_id=str(after.pk), aggregate_type="diagnostics.order").last().payload
    assert payload["status"] == after.status
    assert "李四" not in str(payload) and setting.patient.resident_id not in str(payload)


@pytest.mark.parametrize(("source", "act"), ORDER_ILLEGAL, ids=[f"{s}-{a}" for s, a in ORDER_ILLEGAL])
def test_illegal_order_transition_is_an_error_and_changes_nothing(setting, source, act):
    order = setting.order_in(source, act)
    counts = DiagnosticEvent.objects.count(), OutboxEvent.objects.count()
    with pytest.raises(IllegalTransition) as error:
        setting.take(order, act)
    assert error.value.code in {"illegal_transition", "already_claimed"}
    assert any(word in error.value.message for word in ("cannot", "不能", "already", "已"))
    order.refresh_from_db()
    assert order.status == source
    assert (DiagnosticEvent.objects.count(), OutboxEvent.objects.count()) == counts


@pytest.mark.parametrize(
    ("status", "act", "who"),
    [
        (OrderStatus.RECEIVED, "claim", "clinician"),
        (OrderStatus.RECEIVED, "claim", "ecg_reader"),
        (OrderStatus.RECEIVED, "claim", "lab_reader"),
        (OrderStatus.REQUESTED, "send", "radiologist"),
        (OrderStatus.REQUESTED, "cancel", "radiologist"),
        (OrderStatus.REQUESTED, "cancel", "outsider"),
        (OrderStatus.REQUESTED, "reject", "clinician"),
        (OrderStatus.REQUESTED, "schedule", "clinician"),
        (OrderStatus.CLAIMED, "sign", "radiologist2"),
        (OrderStatus.CLAIMED, "release", "radiologist2"),
        (OrderStatus.CLAIMED, "reject", "radiologist2"),
        (OrderStatus.PRELIMINARY, "review", "radiologist"),
        (OrderStatus.PRELIMINARY, "return", "radiologist"),
        (OrderStatus.FINAL, "amend", "ecg_reader"),
        (OrderStatus.FINAL, "amend", "clinician"),
    ],
)
def test_wrong_side_is_denied_and_changes_nothing(setting, status, act, who):
    users = {
        "clinician": setting.clinician,
        "radiologist": setting.radiologist,
        "radiologist2": setting.radiologist2,
        "ecg_reader": setting.ecg_reader,
        "lab_reader": setting.lab_reader,
        "outsider": setting.staff["outsider"].user,
    }
    order = setting.order_in(status, act)
    events = DiagnosticEvent.objects.count()
    with pytest.raises(NotPermitted):
        setting.take(order, act, actor=users[who])
    order.refresh_from_db()
    assert order.status == status
    assert DiagnosticEvent.objects.count() == events


@pytest.mark.parametrize("act", ["reject", "cancel", "return", "amend"])
def test_steps_that_need_a_reason_refuse_a_blank_one(setting, act):
    status = {
        "reject": OrderStatus.RECEIVED,
        "cancel": OrderStatus.RECEIVED,
        "return": OrderStatus.PRELIMINARY,
        "amend": OrderStatus.FINAL,
    }[act]
    order = setting.order_in(status, act)
    with pytest.raises(Invalid) as error:
        setting.take(order, act, reason="  ")
    assert error.value.field == "reason"
    order.refresh_from_db()
    assert order.status == status


def test_sign_needs_an_impression(setting):
    order = setting.order_in(OrderStatus.CLAIMED)
    with pytest.raises(Invalid) as error:
        setting.take(order, "sign", impression=" ")
    assert error.value.field == "impression"
    assert not order.report_versions.exists()


def test_send_needs_files(setting):
    order = setting.order(attachments=[])
    with pytest.raises(Invalid) as error:
        services.send_order(order.pk, actor=setting.clinician)
    assert error.value.field == "file"
    order.refresh_from_db()
    assert order.status == OrderStatus.REQUESTED


def test_signing_charges_the_reading_fee_to_the_ordering_visit_once(setting):
    order = setting.order_in(OrderStatus.FINAL)
    charge = order.charge_item
    assert charge.encounter_id == setting.encounter.pk
    assert (charge.item_code, str(charge.amount), charge.catalogue_class) == ("250201", "35.00", "A")
    setting.take(order, "amend")
    order.refresh_from_db()
    assert order.charge_item_id == charge.pk
    assert setting.encounter.charge_items.count() == 1


def test_amendment_keeps_every_version(setting):
    order = setting.order_in(OrderStatus.AMENDED)
    versions = list(order.report_versions.order_by("number"))
    assert [v.number for v in versions] == [1, 2]
    assert versions[0].impression == "双肺纹理增粗，未见实变。" and versions[0].signed_at is not None
    assert versions[1].amendment_reason == "补充：右下肺小结节"
    assert setting.clinician.diagnostic_notifications.filter(text__contains="amended").exists() or (
        setting.clinician.diagnostic_notifications.filter(text__contains="修改").exists()
    )


def test_second_reading_finalises_and_the_return_goes_back_to_the_author(setting):
    order = setting.order_in(OrderStatus.PRELIMINARY)
    assert order.reported_at is None and order.charge_item_id is None
    setting.take(order, "return")
    order.refresh_from_db()
    assert order.status == OrderStatus.CLAIMED and order.claimed_by_id == setting.radiologist.pk
    setting.take(order, "submit_for_review", impression="未见出血。")
    final = setting.take(order, "review")
    assert final.status == OrderStatus.FINAL
    version = final.report_versions.get()
    assert version.reviewed_by_id == setting.radiologist2.pk and version.impression == "未见出血。"


def test_report_notifies_the_ordering_clinic_with_a_link(setting):
    order = setting.order_in(OrderStatus.FINAL)
    note = setting.clinician.diagnostic_notifications.filter(link=f"/diagnostics/orders/{order.pk}/").last()
    assert note is not None and order.accession in note.text and "李四" not in note.text
    assert OutboxEvent.objects.filter(event_type="diag_report", aggregate_id=str(order.pk)).exists()


# --- samples ---------------------------------------------------------------------------------------

SAMPLE_LEGAL, SAMPLE_ILLEGAL = _pairs(SAMPLE_TRANSITIONS, SampleStatus, SampleAct)
SAMPLE_PATHS = {
    SampleStatus.COLLECTED: [],
    SampleStatus.SENT: ["send"],
    SampleStatus.RECEIVED: ["send", "receive"],
    SampleStatus.REJECTED: ["reject"],
}


def _take_sample(setting, sample, act, reason="溶血"):
    if act == "send":
        return services.send_sample(sample.pk, actor=setting.clinician)
    if act == "receive":
        return services.receive_sample(actor=setting.lab_reader, centre=setting.lab, barcode=sample.barcode)
    return services.reject_sample(sample.pk, actor=setting.lab_reader, reason=reason)


def _sample_in(setting, status):
    order = setting.order(setting.bmp, barcodes=["LB0001"], send=False)
    sample = order.samples.get()
    for act in SAMPLE_PATHS[status]:
        sample = _take_sample(setting, sample, act)
    sample.refresh_from_db()
    assert sample.status == status
    return sample


def test_sample_paths_cover_every_status():
    assert set(SAMPLE_PATHS) == set(SampleStatus)


@pytest.mark.parametrize(("source", "act"), SAMPLE_LEGAL, ids=[f"{s}-{a}" for s, a in SAMPLE_LEGAL])
def test_legal_sample_transition(setting, source, act):
    sample = _sample_in(setting, source)
    events = DiagnosticEvent.objects.filter(sample=sample).count()
    after = _take_sample(setting, sample, act)
    assert after.status == SAMPLE_TRANSITIONS[(source, act)].target
    event = DiagnosticEvent.objects.filter(sample=sample).last()
    assert (event.from_status, event.to_status) == (source, after.status)
    assert DiagnosticEvent.objects.filter(sample=sample).count() == events + 1


@pytest.mark.parametrize(("source", "act"), SAMPLE_ILLEGAL, ids=[f"{s}-{a}" for s, a in SAMPLE_ILLEGAL])
def test_illegal_sample_transition(setting, source, act):
    sample = _sample_in(setting, source)
    with pytest.raises(IllegalTransition):
        _take_sample(setting, sample, act)
    sample.refresh_from_db()
    assert sample.status == source


def test_the_last_sample_received_puts_the_order_on_the_worklist(setting):
    order = setting.lab_order(barcodes=["LB0001", "LB0002"])
    services.receive_sample(actor=setting.lab_reader, centre=setting.lab, barcode="LB0001")
    order.refresh_from_db()
    assert order.status == OrderStatus.REQUESTED
    services.receive_sample(actor=setting.lab_reader, centre=setting.lab, barcode="LB0002")
    order.refresh_from_db()
    assert order.status == OrderStatus.RECEIVED and order.received_at is not None


def test_a_rejected_sample_tells_the_clinic_why_and_needs_a_reason(setting):
    order = setting.lab_order()
    sample = order.samples.get()
    with pytest.raises(Invalid) as error:
        services.reject_sample(sample.pk, actor=setting.lab_reader, reason="")
    assert error.value.field == "reason"
    services.reject_sample(sample.pk, actor=setting.lab_reader, reason="样本溶血")
    sample.refresh_from_db()
    assert sample.status == SampleStatus.REJECTED and sample.rejection_reason == "样本溶血"
    assert setting.clinician.diagnostic_notifications.filter(text__contains="LB0001").exists()


def test_an_unknown_barcode_is_refused_naming_it(setting):
    setting.lab_order()
    with pytest.raises(Invalid) as error:
        services.receive_sample(actor=setting.lab_reader, centre=setting.lab, barcode="NOPE99")
    assert error.value.field == "barcode" and "NOPE99" in error.value.message


# --- critical values -------------------------------------------------------------------------------

CRITICAL_LEGAL, CRITICAL_ILLEGAL = _pairs(CRITICAL_TRANSITIONS, CriticalStatus, CriticalAct)
CRITICAL_PATHS = {
    CriticalStatus.RAISED: [],
    CriticalStatus.ESCALATED: ["escalate"],
    CriticalStatus.ACKNOWLEDGED: ["acknowledge"],
    CriticalStatus.CLOSED: ["acknowledge", "close"],
}


def _take_critical(setting, value, act, now=None):
    if act == "acknowledge":
        return critical.acknowledge_critical(value.pk, actor=setting.clinician, now=now)
    if act == "close":
        return critical.close_critical(value.pk, actor=setting.clinician, action_taken="已电话通知患者返院复查", now=now)
    return critical.escalate(value.pk, now=now)


def _critical_in(setting, status):
    order = setting.order_in(OrderStatus.CLAIMED)
    setting.take(order, "sign", critical_description="张力性气胸")
    value = order.critical_values.get()
    for act in CRITICAL_PATHS[status]:
        value = _take_critical(setting, value, act)
    value.refresh_from_db()
    assert value.status == status
    return value


def test_critical_paths_cover_every_status():
    assert set(CRITICAL_PATHS) == set(CriticalStatus)


@pytest.mark.parametrize(("source", "act"), CRITICAL_LEGAL, ids=[f"{s}-{a}" for s, a in CRITICAL_LEGAL])
def test_legal_critical_transition(setting, source, act):
    value = _critical_in(setting, source)
    counts = DiagnosticEvent.objects.count(), OutboxEvent.objects.count()
    after = _take_critical(setting, value, act)
    assert after.status == CRITICAL_TRANSITIONS[(source, act)].target
    event = DiagnosticEvent.objects.filter(critical_value=value).last()
    assert (event.from_status, event.to_status) == (source, after.status)
    assert event.actor_id == (None if CRITICAL_TRANSITIONS[(source, act)].side == Side.SYSTEM else setting.clinician.pk)
    assert (DiagnosticEvent.objects.count(), OutboxEvent.objects.count()) == (counts[0] + 1, counts[1] + 1)


@pytest.mark.parametrize(("source", "act"), CRITICAL_ILLEGAL, ids=[f"{s}-{a}" for s, a in CRITICAL_ILLEGAL])
def test_illegal_critical_transition(setting, source, act):
    value = _critical_in(setting, source)
    with pytest.raises(IllegalTransition):
        _take_critical(setting, value, act)
    value.refresh_from_db()
    assert value.status == source


# --- consultations ---------------------------------------------------------------------------------

CONSULT_LEGAL, CONSULT_ILLEGAL = _pairs(CONSULTATION_TRANSITIONS, ConsultationStatus, ConsultationAct)
CONSULT_PATHS = {
    ConsultationStatus.REQUESTED: [],
    ConsultationStatus.SCHEDULED: ["schedule"],
    ConsultationStatus.COMPLETED: ["give_opinion"],
    ConsultationStatus.DECLINED: ["decline"],
    ConsultationStatus.CANCELLED: ["cancel"],
}


@pytest.fixture
def consult_centre(setting):
    from diagnostics.models import Centre, CentreKind

    centre = Centre.objects.create(
        code="CITY-RC",
        name="市远程会诊中心",
        kind=CentreKind.CONSULTATION,
        institution=setting.city,
        consortium=setting.consortium,
    )
    centre.served_institutions.set([setting.township])
    return centre


def _take_consultation(setting, consultation, act):
    coordinator = setting.staff["coordinator"].user
    if act == "schedule":
        return consultations.schedule_consultation(
            consultation.pk,
            actor=coordinator,
            scheduled_at=timezone.now() + datetime.timedelta(days=1),
            participants="心内科 张主任",
        )
    if act == "give_opinion":
        return consultations.give_opinion(
            consultation.pk, actor=coordinator, opinion="考虑不稳定型心绞痛", recommends_referral=True
        )
    if act == "decline":
        return consultations.decline_consultation(consultation.pk, actor=coordinator, reason="请转神经内科")
    return consultations.cancel_consultation(consultation.pk, actor=setting.clinician, reason="患者已转诊")


def _consultation_in(setting, centre, status):
    consultation = consultations.request_consultation(
        actor=setting.clinician, encounter=setting.encounter, centre=centre, question="胸痛反复发作，是否需上转？"
    )
    for act in CONSULT_PATHS[status]:
        consultation = _take_consultation(setting, consultation, act)
    consultation.refresh_from_db()
    assert consultation.status == status
    return consultation


def test_consultation_paths_cover_every_status():
    assert set(CONSULT_PATHS) == set(ConsultationStatus)


@pytest.mark.parametrize(("source", "act"), CONSULT_LEGAL, ids=[f"{s}-{a}" for s, a in CONSULT_LEGAL])
def test_legal_consultation_transition(setting, consult_centre, source, act):
    consultation = _consultation_in(setting, consult_centre, source)
    events = DiagnosticEvent.objects.count()
    after = _take_consultation(setting, consultation, act)
    assert after.status == CONSULTATION_TRANSITIONS[(source, act)].target
    assert DiagnosticEvent.objects.count() == events + 1


@pytest.mark.parametrize(("source", "act"), CONSULT_ILLEGAL, ids=[f"{s}-{a}" for s, a in CONSULT_ILLEGAL])
def test_illegal_consultation_transition(setting, consult_centre, source, act):
    consultation = _consultation_in(setting, consult_centre, source)
    with pytest.raises(IllegalTransition):
        _take_consultation(setting, consultation, act)


def test_consultation_carries_the_records_case_summary_and_links_to_a_referral(setting, consult_centre):
    consultation = _consultation_in(setting, consult_centre, ConsultationStatus.COMPLETED)
    assert consultation.case_summary["patient_id"] == setting.patient.pk
    assert consultations.referral_link(consultation) == f"/referrals/new/?encounter={setting.encounter.pk}"
    assert Order.objects.count() == 0
