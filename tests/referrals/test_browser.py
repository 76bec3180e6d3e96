"""In Chromium, in the Chinese UI: a clinician sends a referral, a coordinator accepts it, the clinic sees the decision."""

import pytest

from referrals.models import Referral, ReferralStatus
from tests.factories import TEST_PASSWORD
from tests.live import browser_login

from .conftest import Setting

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_clinician_sends_and_coordinator_accepts(chain, page):
    setting = Setting(chain)

    browser_login(page, "clinician", TEST_PASSWORD)
    page.goto("/referrals/new/")
    page.get_by_role("link", name="为该患者转诊").click()
    assert page.get_by_role("heading", name="新建上转").is_visible()
    assert page.get_by_text("原发性高血压").first.is_visible()
    page.select_option("#id_to_department", value=str(setting.cardiology.pk))
    page.select_option("#id_urgency", value="urgent")
    page.fill("#id_reason", "血压控制不佳，需专科评估")
    page.get_by_role("button", name="提交转诊").click()
    page.wait_for_url("**/referrals/*/")
    referral = Referral.objects.get()
    assert page.locator("h1 .status").inner_text() == "已提交"

    page.context.clear_cookies()
    browser_login(page, "coordinator", TEST_PASSWORD)
    page.get_by_role("link", name="转诊队列").first.click()
    page.get_by_role("link", name=f"#{referral.pk}").click()
    page.select_option("#id_accept-slot", value=str(setting.slot.pk))
    page.fill("#id_accept-note", "请携带既往检查资料")
    page.locator("#action-accept button[type=submit]").click()
    page.wait_for_selector("text=已接收")
    assert page.locator("h1 .status").inner_text() == "已接收"
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.ACCEPTED

    page.context.clear_cookies()
    browser_login(page, "clinician", TEST_PASSWORD)
    page.get_by_role("link", name="通知 (1)").click()
    assert page.get_by_text(f"转诊单 #{referral.pk} 已被市中心医院接收").is_visible()
