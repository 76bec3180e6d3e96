"""Downward referral with structured discharge data, received in one step, never expired at home (#14, item 7)."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from referrals import selectors, services
from referrals.models import Referral, ReferralStatus

pytestmark = pytest.mark.django_db

DISCHARGE = {
    "diagnoses": [{"code": "i10"}, {"code": "E11.9"}],
    "medicines": [{"drug_name": "苯磺酸氨氯地平片", "dose": "5mg", "frequency": "每日一次", "days": 30, "drug_code": ""}],
    "instructions": "低盐饮食，每日测血压",
}


def _plan():
    return [{"kind": "revisit", "due_on": timezone.localdate() + datetime.timedelta(days=7), "instructions": ""}]


def _discharge(setting, discharge=DISCHARGE):
    upward = setting.referral_in(ReferralStatus.IN_TREATMENT)
    return upward, services.discharge_with_downward_referral(
        upward.pk, actor=setting.coordinator, discharge_summary="好转出院", tasks=_plan(), discharge=discharge
    )


def test_the_downward_referral_carries_the_discharge_diagnoses_and_medicines(setting):
    upward, downward = _discharge(setting)
    data = downward.discharge_data
    assert [d["code"] for d in data["diagnoses"]] == ["I10", "E11.9"]
    assert data["diagnoses"][0]["description"] == "原发性高血压"
    assert data["medicines"][0]["drug_name"] == "苯磺酸氨氯地平片"
    assert data["discharged_on"] == timezone.localdate().isoformat()
    assert data["admitted_on"] == timezone.localdate().isoformat()  # the arrival of the upward referral
    summary = downward.clinical_summary
    assert [d["code"] for d in summary["diagnoses"]] == ["I10", "E11.9"]
    assert [m["drug"] for m in summary["medications"]] == ["苯磺酸氨氯地平片"]


@pytest.mark.parametrize(
    ("discharge", "field"),
    [
        ({**DISCHARGE, "diagnoses": []}, "diagnoses"),
        ({**DISCHARGE, "diagnoses": [{"code": "X99.99"}]}, "diagnoses"),
        ({**DISCHARGE, "medicines": [{"drug_name": " ", "dose": "5mg"}]}, "medicines"),
        ({**DISCHARGE, "medicines": [{"drug_name": "药", "days": 0}]}, "medicines"),
        ({**DISCHARGE, "discharged_on": timezone.localdate() + datetime.timedelta(days=2)}, "discharged_on"),
        ({**DISCHARGE, "admitted_on": timezone.localdate() + datetime.timedelta(days=1)}, "admitted_on"),
    ],
)
def test_bad_discharge_data_names_the_field_and_writes_nothing(setting, discharge, field):
    upward = setting.referral_in(ReferralStatus.IN_TREATMENT)
    with pytest.raises(services.ReferralError) as error:
        services.discharge_with_downward_referral(
            upward.pk, actor=setting.coordinator, discharge_summary="好转出院", tasks=_plan(), discharge=discharge
        )
    assert error.value.field == field
    upward.refresh_from_db()
    assert upward.status == ReferralStatus.IN_TREATMENT
    assert not Referral.objects.filter(upward_referral=upward).exists()


def test_the_clinic_receives_its_own_patient_in_one_step(setting, login):
    _upward, downward = _discharge(setting)
    client = login(setting.staff["clinician"])
    page = client.get(reverse("referrals:detail", args=[downward.pk]))
    html = page.content.decode()
    assert 'id="action-receive"' in html and 'id="action-review"' not in html and 'id="action-accept"' not in html
    assert 'id="discharge-data"' in html and "苯磺酸氨氯地平片" in html and "低盐饮食" in html
    response = client.post(reverse("referrals:receive", args=[downward.pk]), {"receive-note": "已回家"})
    assert response.status_code == 302
    downward.refresh_from_db()
    assert downward.status == ReferralStatus.ARRIVED
    assert [e.to_status for e in downward.events.order_by("pk")][-2:] == [ReferralStatus.ACCEPTED, ReferralStatus.ARRIVED]
    assert client.post(reverse("referrals:receive", args=[downward.pk])).status_code == 403, "already received"


def test_only_a_downward_referral_to_the_own_clinic_is_received_in_one_step(setting):
    upward = setting.referral_in(ReferralStatus.SUBMITTED)
    with pytest.raises(services.IllegalTransition):
        services.receive_downward_referral(upward.pk, actor=setting.coordinator)


def test_a_downward_referral_to_a_patient_at_home_is_never_expired(setting):
    _upward, downward = _discharge(setting)
    later = timezone.now() + datetime.timedelta(days=60)
    services.escalate_overdue_referrals(now=later)
    services.escalate_overdue_referrals(now=later + datetime.timedelta(days=1))
    downward.refresh_from_db()
    assert downward.status == ReferralStatus.SUBMITTED
    assert downward.escalation_level >= 1, "the clinic is still reminded"


def test_the_hospital_stay_is_on_the_patient_timeline(setting, login):
    _upward, downward = _discharge(setting)
    entries = selectors.hospital_stay_entries(setting.clinician, setting.patient)
    assert len(entries) == 1 and "I10" in entries[0].summary
    assert selectors.hospital_stay_entries(setting.staff["outsider"].user, setting.patient) == []
    page = login(setting.staff["clinician"]).get(reverse("records:patient-detail", args=[setting.patient.pk]))
    assert reverse("referrals:detail", args=[downward.pk]) in page.content.decode()


def test_the_discharge_page_takes_diagnoses_and_medicines_with_errors_on_the_row(setting, login):
    upward = setting.referral_in(ReferralStatus.IN_TREATMENT)
    client = login(setting.staff["coordinator"])
    url = reverse("referrals:discharge", args=[upward.pk])
    assert client.get(url).status_code == 200
    today = timezone.localdate().isoformat()
    due = (timezone.localdate() + datetime.timedelta(days=7)).isoformat()
    data = {
        "discharged_on": today,
        "discharge_summary": "好转出院",
        "instructions": "按时服药",
        "tasks-TOTAL_FORMS": "1",
        "tasks-INITIAL_FORMS": "0",
        "tasks-0-kind": "revisit",
        "tasks-0-due_on": due,
        "dx-TOTAL_FORMS": "1",
        "dx-INITIAL_FORMS": "0",
        "dx-0-code": "I10",
        "rx-TOTAL_FORMS": "2",
        "rx-INITIAL_FORMS": "0",
        "rx-0-drug_name": "阿司匹林肠溶片",
        "rx-0-dose": "100mg",
        "rx-1-dose": "5mg",  # a half-filled medicine row
    }
    response = client.post(url, data)
    assert response.status_code == 200
    assert "drug_name" in response.context["medicines"].forms[1].errors
    response = client.post(url, data | {"dx-0-code": "", "rx-1-dose": ""})
    assert response.context["sections"]["diagnoses"], "no discharge diagnosis"
    assert not Referral.objects.filter(upward_referral=upward).exists()
    response = client.post(url, data | {"rx-1-dose": ""})
    assert response.status_code == 302
    downward = Referral.objects.get(upward_referral=upward)
    assert downward.discharge_data["instructions"] == "按时服药"
    assert [m["drug_name"] for m in downward.discharge_data["medicines"]] == ["阿司匹林肠溶片"]
