"""In Chromium, in the Chinese UI: a clerk registers a patient (seeing an inline error first) and a clinician records a visit."""

import datetime

import pytest

from records.models import Encounter, Patient
from tests.factories import TEST_PASSWORD, make_resident_id
from tests.live import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_register_patient_and_record_visit(chain, page):
    rid = make_resident_id(birth_date=datetime.date(1958, 11, 2), sex="F")

    browser_login(page, "clerk", TEST_PASSWORD)
    page.get_by_role("link", name="患者", exact=True).click()
    page.get_by_role("link", name="患者建档").click()
    assert page.get_by_role("heading", name="患者建档").is_visible()
    page.fill("#id_name", "黄秀兰")
    page.fill("#id_resident_id", rid[:-1] + ("0" if rid[-1] != "0" else "1"))
    page.select_option("#id_sex", value="F")
    page.fill("#id_village", "凤阳村")
    page.get_by_role("button", name="建档").click()
    assert page.get_by_text("该身份证号校验位错误，请核对号码。").is_visible()
    assert not Patient.objects.exists()

    page.fill("#id_resident_id", rid)
    page.check("#id_consents_to_sharing")
    page.get_by_role("button", name="建档").click()
    page.wait_for_url("**/records/patients/*/")
    assert page.get_by_text("患者已建档。").is_visible()
    patient = Patient.objects.get()
    assert patient.name_pinyin == "huang xiu lan" and patient.consents_to_sharing

    page.context.clear_cookies()
    browser_login(page, "clinician", TEST_PASSWORD)
    page.goto("/records/patients/")
    page.fill("#id_q", "huang xiu")
    page.get_by_role("button", name="搜索").click()
    page.get_by_role("link", name="黄秀兰").click()
    page.get_by_role("link", name="登记就诊").click()
    page.select_option("#id_kind", value="outpatient")
    page.fill("#id_started_at", datetime.datetime.now().strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_chief_complaint", "头晕乏力一周")
    page.fill("#icd10-search", "高血压")
    page.locator("#icd10-options option").first.wait_for(state="attached")
    assert page.locator("#icd10-options option[value='I10']").count() == 1
    page.fill("#id_dx-0-code", "I10")
    page.check("#id_dx-0-is_primary")
    page.fill("#id_rx-0-drug_name", "硝苯地平缓释片")
    # A second prescription row, added on the page.
    page.locator("[data-rowset=rx] [data-add-row]").click()
    page.fill("#id_rx-1-drug_name", "阿司匹林肠溶片")
    page.fill("#id_vitals-bp_systolic", "158")
    page.fill("#id_vitals-bp_diastolic", "92")
    page.fill("#id_charge-0-item_code", "ZC01")
    page.fill("#id_charge-0-name", "诊查费")
    page.select_option("#id_charge-0-category", value="consultation")
    page.select_option("#id_charge-0-catalogue_class", value="A")
    page.fill("#id_charge-0-quantity", "1")
    page.fill("#id_charge-0-unit_price", "10.00")
    page.get_by_role("button", name="保存就诊").click()
    page.wait_for_url("**/records/patients/*/**")
    assert page.get_by_text("就诊已登记。").is_visible()
    assert page.get_by_text("I10 原发性高血压").is_visible()
    assert page.get_by_text("超出范围").first.is_visible()
    encounter = Encounter.objects.get()
    assert encounter.patient == patient and encounter.charge_items.get().amount == 10
    assert sorted(encounter.prescriptions.values_list("drug_name", flat=True)) == ["硝苯地平缓释片", "阿司匹林肠溶片"]
    assert encounter.observations.count() == 2
