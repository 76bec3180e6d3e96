"""The clinic's and the coordinator's newer pages at phone size, in Chinese, in Debian Chromium:
the enrolment page with its form errors, the coordinator's weekly schedule, the catalogues' import."""

import pytest

from tests.factories import TEST_PASSWORD, PatientFactory
from tests.live import browser_login

from .test_story_browser import SIZES, _no_overflow

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.mark.parametrize("size", list(SIZES))
def test_enrolment_schedule_and_catalogue_pages_fit_the_screen(chain, browser, live_server, size):
    patient = PatientFactory(home_institution=chain["township"], name="覃秀英", insurance_number="")
    context = browser.new_context(locale="zh-CN", base_url=live_server.url, viewport=SIZES[size])
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        browser_login(page, "clerk", TEST_PASSWORD)
        page.goto(f"/insurance/patients/{patient.pk}/enrol/")
        _no_overflow(page, "enrolment")
        page.locator("main form button[type=submit]").last.click()  # nothing filled: errors on the fields
        page.wait_for_load_state()
        assert page.locator("main .errorlist").count() >= 1
        _no_overflow(page, "enrolment with errors")
        page.context.clear_cookies()
        browser_login(page, "coordinator", TEST_PASSWORD)
        page.goto("/referrals/schedule/")
        _no_overflow(page, "weekly schedule")
        page.context.clear_cookies()
        browser_login(page, "cadmin", TEST_PASSWORD)
        page.goto("/records/catalogues/")
        _no_overflow(page, "catalogues")
    finally:
        context.close()
