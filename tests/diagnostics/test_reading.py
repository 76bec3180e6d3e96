"""Who sees what, lab values and their critical limits, escalation on a frozen clock, recognition windows."""

import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404

from consortium.errors import Conflict, Invalid, NotPermitted
from diagnostics import critical, recognition, selectors, services
from diagnostics.models import CriticalStatus, Interpretation, OrderStatus, RecognisedItem, RecognitionDecision
from diagnostics.transitions import CriticalAct
from records.access import can_read_patient
from records.models import AccessReason
from records.registry import timeline_entries
from tests.factories import EncounterFactory, InstitutionFactory, MembershipFactory, PatientFactory, StaffFactory

pytestmark = pytest.mark.django_db


# --- who sees what ---------------------------------------------------------------------------------


def test_a_reader_of_one_centre_cannot_see_another_centres_studies(setting):
    xray = setting.order_in(OrderStatus.RECEIVED)
    ecg = setting.order(
        setting.ecg12,
        attachments=[SimpleUploadedFile("e.xml", b'<?xml version="1.0"?><AnnotatedECG/>')],
        send=True,
    )
    assert selectors.order_or_404(setting.radiologist, xray.pk) == xray
    with pytest.raises(Http404):
        selectors.order_or_404(setting.radiologist, ecg.pk)
    with pytest.raises(Http404):
        selectors.order_or_404(setting.ecg_reader, xray.pk)
    with pytest.raises(Http404):
        selectors.order_or_404(setting.lab_reader, xray.pk)
    assert list(selectors.centres_for(setting.radiologist)) == [setting.imaging]


def test_a_clinic_sees_only_its_own_orders(setting, chain):
    order = setting.order_in(OrderStatus.RECEIVED)
    assert selectors.order_or_404(setting.clinician, order.pk) == order
    with pytest.raises(Http404):
        selectors.order_or_404(chain["staff"]["outsider"].user, order.pk)
    village = StaffFactory(institution=setting.village).user
    with pytest.raises(Http404):
        selectors.order_or_404(village, order.pk)


def test_an_open_order_opens_the_record_to_the_centre_and_closes_with_the_report(setting):
    assert not can_read_patient(setting.radiologist, setting.patient)
    order = setting.order_in(OrderStatus.CLAIMED)
    decision = can_read_patient(setting.radiologist, setting.patient)
    assert decision and decision.reason == AccessReason.DIAGNOSTIC_ORDER
    assert not can_read_patient(setting.lab_reader, setting.patient)
    setting.take(order, "sign")
    assert not can_read_patient(setting.radiologist, setting.patient)


def test_the_signed_report_appears_on_the_patients_timeline(setting):
    order = setting.order_in(OrderStatus.FINAL)
    entries = timeline_entries(setting.clinician, setting.patient)
    assert len(entries) == 1 and order.accession in entries[0].title and "未见实变" in entries[0].summary


def test_only_served_members_may_order(setting):
    setting.imaging.served_institutions.set([setting.county])
    with pytest.raises(Invalid) as error:
        setting.order()
    assert error.value.field == "service"


def test_claim_next_takes_the_most_urgent_first(setting):
    routine = setting.order(urgency="routine", send=True)
    stat = setting.order(urgency="stat", send=True, attachments=[setting.dicom(n=2)])
    assert services.claim_next(setting.imaging.pk, actor=setting.radiologist).pk == stat.pk
    assert services.claim_next(setting.imaging.pk, actor=setting.radiologist2).pk == routine.pk
    assert services.claim_next(setting.imaging.pk, actor=setting.radiologist) is None


def test_a_second_claim_is_refused_as_already_claimed(setting):
    order = setting.order_in(OrderStatus.RECEIVED)
    services.claim_order(order.pk, actor=setting.radiologist)
    with pytest.raises(Conflict) as error:
        services.claim_order(order.pk, actor=setting.radiologist2)
    assert error.value.code == "already_claimed"


# --- lab values and critical values ----------------------------------------------------------------


def _lab_report(setting, values, **kwargs):
    order = setting.lab_order()
    services.receive_sample(actor=setting.lab_reader, centre=setting.lab, barcode="LB0001")
    services.claim_order(order.pk, actor=setting.lab_reader)
    return services.sign_report(order.pk, actor=setting.lab_reader, impression="见数值", observations=values, **kwargs)


def test_lab_values_take_the_analytes_units_and_ranges(setting):
    order = _lab_report(setting, [{"code": "K", "value": "5.8"}, {"code": "GLU", "value": "5.0"}])
    rows = {o.code: o for o in order.report_versions.get().observations.all()}
    assert rows["K"].unit == "mmol/L" and rows["K"].reference_high == Decimal("5.3")
    assert rows["K"].interpretation == Interpretation.HIGH and rows["GLU"].interpretation == Interpretation.NORMAL
    assert not order.critical_values.exists()
    assert order.charge_item.category == "laboratory" and str(order.charge_item.amount) == "28.50"


@pytest.mark.parametrize(
    ("values", "field"),
    [([{"code": "NA", "value": "140"}], "observations[1]"), ([{"code": "K", "value": "高"}], "observations[1]")],
)
def test_a_bad_lab_row_is_refused_naming_the_row(setting, values, field):
    order = setting.lab_order()
    services.receive_sample(actor=setting.lab_reader, centre=setting.lab, barcode="LB0001")
    services.claim_order(order.pk, actor=setting.lab_reader)
    with pytest.raises(Invalid) as error:
        services.sign_report(order.pk, actor=setting.lab_reader, impression="x", observations=values)
    assert error.value.field == field
    order.refresh_from_db()
    assert order.status == OrderStatus.CLAIMED and not order.report_versions.exists()


def test_a_value_beyond_its_critical_limit_raises_a_critical_value_and_tells_the_clinic(setting):
    order = _lab_report(setting, [{"code": "K", "value": "7.1"}])
    value = order.critical_values.get()
    assert value.status == CriticalStatus.RAISED and "血钾 7.1 mmol/L" == value.description
    assert value.ack_due_at - value.raised_at == datetime.timedelta(minutes=30)
    note = setting.clinician.diagnostic_notifications.get(link=f"/diagnostics/critical/{value.pk}/")
    assert order.accession in note.text and "李四" not in note.text


def test_escalation_on_a_frozen_clock(setting):
    order = _lab_report(setting, [{"code": "K", "value": "2.1"}])
    value = order.critical_values.get()
    head = (
        __import__("tests.factories", fromlist=["StaffFactory"])
        .StaffFactory(institution=setting.township, role="hospital_administrator", user__username="head")
        .user
    )
    assert critical.escalate_overdue(now=value.ack_due_at - datetime.timedelta(seconds=1)) == 0
    assert critical.escalate_overdue(now=value.ack_due_at + datetime.timedelta(seconds=1)) == 1
    value.refresh_from_db()
    assert value.status == CriticalStatus.ESCALATED and value.escalated_at == value.ack_due_at + datetime.timedelta(seconds=1)
    assert head.diagnostic_notifications.filter(link=f"/diagnostics/critical/{value.pk}/").exists()
    assert setting.lab_reader.diagnostic_notifications.filter(link=f"/diagnostics/critical/{value.pk}/").exists()
    assert critical.escalate_overdue(now=value.ack_due_at + datetime.timedelta(hours=1)) == 0  # once only
    late = critical.acknowledge_critical(value.pk, actor=setting.clinician, now=value.ack_due_at + datetime.timedelta(minutes=5))
    assert late.acknowledged_in_time is False
    with pytest.raises(Invalid) as error:
        critical.close_critical(value.pk, actor=setting.clinician, action_taken="  ")
    assert error.value.field == "action_taken"
    closed = critical.close_critical(value.pk, actor=setting.clinician, action_taken="电话通知患者急诊就诊")
    assert closed.status == CriticalStatus.CLOSED
    steps = [e.action for e in closed.events.order_by("pk")]
    assert steps == ["critical.raise", "critical.escalate", "critical.acknowledge", "critical.close"]


def test_an_acknowledgement_in_time_is_recorded_so(setting):
    order = _lab_report(setting, [{"code": "GLU", "value": "1.8"}])
    value = order.critical_values.get()
    value = critical.acknowledge_critical(value.pk, actor=setting.clinician, now=value.raised_at + datetime.timedelta(minutes=10))
    assert value.acknowledged_in_time is True
    with pytest.raises(Conflict):
        critical.escalate(value.pk, now=value.ack_due_at + datetime.timedelta(minutes=1))


def test_only_the_clinic_acknowledges_and_only_the_platform_escalates(setting):
    order = _lab_report(setting, [{"code": "K", "value": "7.1"}])
    value = order.critical_values.get()
    with pytest.raises(NotPermitted):
        critical.acknowledge_critical(value.pk, actor=setting.lab_reader)
    with pytest.raises(NotPermitted):
        critical._transition(value.pk, CriticalAct.ESCALATE, actor=setting.clinician)
    value.refresh_from_db()
    assert value.status == CriticalStatus.RAISED
    assert critical.escalate(value.pk).status == CriticalStatus.ESCALATED


# --- mutual recognition ----------------------------------------------------------------------------


@pytest.fixture
def recognised(setting):
    return RecognisedItem.objects.create(consortium=setting.consortium, service_code="XR-CHEST", name="胸片", validity_days=30)


def test_a_prior_result_within_the_window_must_be_used_or_overridden(setting, recognised):
    prior = setting.order_in(OrderStatus.FINAL)
    found = recognition.prior_results(setting.patient, setting.xray, setting.township)
    assert [r.order.pk for r in found] == [prior.pk]
    with pytest.raises(Invalid) as error:
        setting.order(attachments=[setting.dicom(n=3)])
    assert error.value.field == "repeat_reason" and error.value.code == "recognised_result_exists"
    repeat = setting.order(attachments=[setting.dicom(n=3)], repeat_reason="clinically_changed")
    decision = repeat.recognition_decision
    assert (decision.recognised, decision.prior_order_id, decision.repeat_reason) == (False, prior.pk, "clinically_changed")


def test_using_the_prior_result_records_the_cost_avoided(setting, recognised):
    prior = setting.order_in(OrderStatus.FINAL)
    visit = EncounterFactory(patient=setting.patient, institution=setting.township)
    decision = recognition.use_prior_result(actor=setting.clinician, encounter=visit, prior_order_id=prior.pk)
    assert decision.recognised and decision.avoided_cost == Decimal("35.00") and decision.new_order is None


def test_outside_the_window_there_is_nothing_to_recognise(setting, recognised):
    prior = setting.order_in(OrderStatus.FINAL)
    later = prior.reported_at + datetime.timedelta(days=31)
    assert recognition.prior_results(setting.patient, setting.xray, setting.township, now=later) == []
    assert recognition.prior_results(
        setting.patient, setting.xray, setting.township, now=prior.reported_at + datetime.timedelta(days=29)
    )


def test_county_scope_recognises_only_inside_the_county(setting, recognised):
    recognised.scope = "county"
    recognised.save()
    setting.order_in(OrderStatus.FINAL)
    elsewhere = InstitutionFactory(code="ZG-T1", region_code="420527")
    MembershipFactory(consortium=setting.consortium, institution=elsewhere)
    assert recognition.prior_results(setting.patient, setting.xray, setting.township)
    assert recognition.prior_results(setting.patient, setting.xray, elsewhere) == []
    assert RecognitionDecision.objects.count() == 0


def test_another_patients_result_is_never_offered(setting, recognised):
    setting.order_in(OrderStatus.FINAL)
    other = PatientFactory(home_institution=setting.township)
    assert recognition.prior_results(other, setting.xray, setting.township) == []
