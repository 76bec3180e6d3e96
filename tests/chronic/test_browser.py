"""Chromium at 390 px, Chinese UI: the village doctor records an uncontrolled follow-up and sends the proposed referral."""

import datetime

import pytest
from django.utils import timezone

from chronic.models import FollowUp
from referrals.models import Referral, ReferralStatus
from tests.factories import TEST_PASSWORD, DepartmentFactory
from tests.live import browser_login

from .conftest import Chronic

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_village_doctor_records_an_uncontrolled_follow_up_and_refers_up(chain, page):
    chronic = Chronic(chain)
    cardiology = DepartmentFactory(institution=chronic.city, code="CARD", name="心血管内科", accepts_referrals=True)
    enrolment = chronic.enrolled(patient=chronic.patient(name="王秀英"), when=timezone.now() - datetime.timedelta(days=30))
    chronic.record(enrolment, "150", "94", done_on=timezone.localdate() - datetime.timedelta(days=14))  # re-check due today

    page.set_viewport_size({"width": 390, "height": 844})
    browser_login(page, "village_doctor", TEST_PASSWORD)
    page.goto("/chronic/")
    assert page.get_by_role("heading", name="本周随访").is_visible()
    page.get_by_role("link", name="王秀英").first.click()
    page.fill("#id_bp_systolic", "162")
    page.fill("#id_bp_diastolic", "98")
    page.fill("#id_pulse", "84")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the follow-up form scrolls sideways on a phone ({width}px)"
    page.get_by_role("button", name="保存随访").click()
    page.wait_for_url("**/result/")
    assert page.get_by_text("控制不满意").first.is_visible()
    assert page.get_by_text("连续随访控制不满意：建议上转。").is_visible()
    page.get_by_role("button", name="上转").click()
    page.wait_for_url("**/referrals/new/**")
    assert "158" not in page.input_value("#id_reason")
    assert "162" in page.input_value("#id_reason")
    page.select_option("#id_to_department", value=str(cardiology.pk))
    page.get_by_role("button", name="提交转诊").click()
    page.wait_for_url("**/referrals/*/")
    referral = Referral.objects.get()
    follow_up = FollowUp.objects.get(enrolment=enrolment, trigger="consecutive")
    assert referral.status == ReferralStatus.SUBMITTED
    assert referral.source_encounter_id == follow_up.encounter_id
    assert follow_up.referral_proposed
