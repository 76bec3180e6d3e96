"""In Chromium, in the Chinese UI: a township clinician orders a chest X-ray with a DICOM file, the city
radiologist claims it and reports a critical finding, the clinic acknowledges the critical value in time."""

import pytest
from django.utils import translation

from diagnostics.models import CriticalStatus, Order, OrderStatus
from tests.factories import TEST_PASSWORD
from tests.live import browser_login

from .conftest import Setting

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_order_with_dicom_claim_and_report_critical_value_acknowledged(chain, page, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    with translation.override("en"):
        setting = Setting(chain)
    dicom = tmp_path / "chest.dcm"
    dicom.write_bytes(setting.dicom().read())

    browser_login(page, "clinician", TEST_PASSWORD)
    page.goto(f"/diagnostics/orders/new/?encounter={setting.encounter.pk}")
    assert page.get_by_role("heading", name="新建检查申请").is_visible()
    page.select_option("#id_service", value=str(setting.xray.pk))
    page.select_option("#id_urgency", value="urgent")
    page.fill("#id_reason", "咳嗽两周，发热")
    page.set_input_files("#id_files", str(dicom))
    page.get_by_role("button", name="提交申请").click()
    page.wait_for_url("**/diagnostics/orders/*/")
    order = Order.objects.get()
    assert page.locator("h1 .status").inner_text() == "已接收，待诊断"
    assert page.get_by_text("chest.dcm").is_visible()

    page.context.clear_cookies()
    browser_login(page, "radiologist", TEST_PASSWORD)
    page.goto(f"/diagnostics/centres/{setting.imaging.pk}/worklist/")
    page.get_by_role("button", name="认领下一个检查").click()
    page.wait_for_url(f"**/diagnostics/orders/{order.pk}/")
    assert page.locator("h1 .status").inner_text() == "诊断中"
    page.fill("#id_sign-findings", "右肺野透亮度增高，肺纹理消失，纵隔左移。")
    page.fill("#id_sign-impression", "右侧张力性气胸。")
    page.fill("#id_sign-critical_description", "右侧张力性气胸")
    page.locator("#action-sign button[type=submit]").click()
    page.wait_for_selector("text=签发报告：已完成。")
    assert page.locator("h1 .status").inner_text() == "终审"
    order.refresh_from_db()
    assert order.status == OrderStatus.FINAL

    page.context.clear_cookies()
    browser_login(page, "clinician", TEST_PASSWORD)
    page.goto("/diagnostics/")
    page.get_by_role("link", name=f"{order.accession} · 右侧张力性气胸").click()
    page.fill("#id_note", "已电话通知患者立即返院")
    page.locator("#acknowledge-form button[type=submit]").click()
    page.wait_for_selector("text=危急值已确认。")
    value = order.critical_values.get()
    assert value.status == CriticalStatus.ACKNOWLEDGED and value.acknowledged_in_time
