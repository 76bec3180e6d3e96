"""The whole story in Chromium, as the people who do it: register → visit → upward referral → accept →
discharge → downward referral → follow-up → claim, on a phone (390×844) and a desktop (1366×768), in
Chinese and in English.

Along the way it asserts what a clinic would notice first: no clinic page wider than the screen, every
value typed in shows on the record, every date shown is the Beijing date (the visit is at 00:30 Beijing
time, the previous day in UTC), and each printed document (referral forms, appointment slip, claim
statement) verifies: its QR link, opened without signing in, says "valid".  One story per size and
language; the first failure stops it (``page`` waits at most 15 s for anything).
"""

import datetime
import re
import zoneinfo

import pytest
from django.utils import timezone

from insurance.models import Claim, Enrolment
from records import resident_id
from records.models import Encounter, Patient
from referrals.models import Direction, FollowUpTask, Referral, ReferralStatus
from tests.factories import TEST_PASSWORD, make_resident_id
from tests.live import ARTIFACTS, browser_login
from tests.referrals.conftest import Setting

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BEIJING = zoneinfo.ZoneInfo("Asia/Shanghai")
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 768}}
LOCALES = {"zh-hans": "zh-CN", "en": "en-US"}
VALID = {"zh-hans": "有效", "en": "Valid"}
#: The outermost elements reaching past the screen's right edge (named in a failure).
WIDEST = """() => Array.from(document.querySelectorAll('body *'))
  .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1
    && !(el.parentElement && el.parentElement.closest('.table-scroll')))
  .slice(0, 5).map(el => el.tagName + '.' + el.className + ' ' + Math.round(el.getBoundingClientRect().right))"""


def _no_overflow(page, where: str) -> None:
    scroll, inner = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    if scroll > inner + 1:
        wide = page.evaluate(WIDEST)
        raise AssertionError(f"{where}: the page is {scroll}px wide on a {inner}px screen; widest: {wide}")


def _submit(page, form_selector: str) -> None:
    page.locator(f"{form_selector} button[type=submit]").last.click()
    page.wait_for_load_state("domcontentloaded")


def _as(page, username: str) -> None:
    page.context.clear_cookies()
    browser_login(page, username, TEST_PASSWORD)


def _verifies(page, language: str) -> None:
    """Open the printed document's QR link in a fresh, signed-out page: it must say valid."""
    assert page.locator("svg.qr").count() == 1
    link = page.locator("[data-verify-link]").get_attribute("href")
    public = page.context.browser.new_context(locale=LOCALES[language])
    try:
        check = public.new_page()
        check.goto(link)
        assert check.locator("[data-verdict]").get_attribute("data-verdict") == "valid"
        assert VALID[language] in check.locator(".verdict-word").inner_text()
        assert check.locator("body").inner_text().count("*") >= 1  # the name only masked
    finally:
        public.close()


@pytest.mark.parametrize("language", list(LOCALES))
@pytest.mark.parametrize("size", list(SIZES))
def test_the_whole_story(chain, browser, live_server, policy, size, language):
    setting = Setting(chain)
    context = browser.new_context(locale=LOCALES[language], base_url=live_server.url, viewport=SIZES[size])
    page = context.new_page()
    page.set_default_timeout(15000)
    now = timezone.localtime(timezone.now(), BEIJING)
    visit_at = min(now, now.replace(hour=0, minute=30, second=0, microsecond=0))
    beijing_day = visit_at.date().isoformat()
    rid = make_resident_id(birth_date=datetime.date(1961, 4, 9), sex="F")
    try:
        # 1. The clerk registers the patient.
        _as(page, "clerk")
        page.goto("/records/patients/new/")
        _no_overflow(page, "registration")
        page.fill("#id_name", "覃秀英")
        page.fill("#id_resident_id", rid)
        page.fill("#id_phone", "13807171234")
        page.fill("#id_village", "凤阳村")
        page.check("#id_consents_to_sharing")
        _submit(page, "#patient-register-form")
        page.wait_for_url(re.compile(r"/records/patients/\d+/$"))
        patient = Patient.objects.get(name="覃秀英")
        # sex and birth date come from the ID (the factory shifts the date a day per hundred IDs made)
        assert patient.sex == "F" and patient.birth_date == resident_id.parse(rid).birth_date
        Enrolment.objects.create(patient=patient, scheme=policy.scheme, year=now.year, insurance_number="INS-STORY-1")
        _no_overflow(page, "patient page")
        assert "覃秀英" in page.locator("main").inner_text()

        # 2. The clinician records the visit (00:30 Beijing time: the day before in UTC).
        _as(page, "clinician")
        page.goto(f"/records/patients/{patient.pk}/visits/new/")
        _no_overflow(page, "visit form")
        page.select_option("#id_kind", value="outpatient")
        page.fill("#id_started_at", visit_at.strftime("%Y-%m-%dT%H:%M"))
        page.fill("#id_chief_complaint", "反复头晕胸闷两周")
        page.fill("#id_dx-0-code", "I10")
        page.fill("#id_rx-0-drug_name", "硝苯地平缓释片")
        page.fill("#id_vitals-bp_systolic", "172")
        page.fill("#id_vitals-bp_diastolic", "104")
        page.fill("#id_charge-0-item_code", "110200001")
        page.fill("#id_charge-0-name", "普通门诊诊查费")
        page.select_option("#id_charge-0-category", value="consultation")
        page.select_option("#id_charge-0-catalogue_class", value="A")
        page.fill("#id_charge-0-quantity", "1")
        page.fill("#id_charge-0-unit_price", "10.00")
        _submit(page, "#encounter-form")
        page.wait_for_url(re.compile(r"/records/patients/\d+/"))
        encounter = Encounter.objects.get(patient=patient)
        assert timezone.localtime(encounter.started_at, BEIJING).date().isoformat() == beijing_day
        record = page.locator("main").inner_text()
        for value in ("反复头晕胸闷两周", "I10", "硝苯地平缓释片", "172", "104", "普通门诊诊查费", beijing_day):
            assert value in record, value
        _no_overflow(page, "patient page with the visit")

        # 3. Upward referral from the visit.
        page.goto(f"/referrals/new/?encounter={encounter.pk}")
        _no_overflow(page, "new referral")
        page.select_option("#id_to_department", value=str(setting.cardiology.pk))
        page.select_option("#id_urgency", value="urgent")
        page.fill("#id_reason", "血压控制不佳，需心内科评估")
        page.locator("button[name=submit_referral]").click()
        page.wait_for_url(re.compile(r"/referrals/\d+/$"))
        upward = Referral.objects.get(patient=patient, direction=Direction.UP)
        detail = page.locator("main").inner_text()
        assert "血压控制不佳，需心内科评估" in detail and beijing_day in detail  # the snapshot's diagnosis date
        _no_overflow(page, "referral (clinic)")
        page.goto(f"/referrals/{upward.pk}/print/")
        assert "覃秀英" in page.locator("article").inner_text()
        _verifies(page, language)

        # 4. The coordinator accepts with a slot; the appointment slip verifies.
        _as(page, "coordinator")
        page.goto(f"/referrals/{upward.pk}/")
        page.select_option("#id_accept-slot", value=str(setting.slot.pk))
        page.fill("#id_accept-note", "请携带既往检查资料")
        _submit(page, "#action-accept")
        upward.refresh_from_db()
        assert upward.status == ReferralStatus.ACCEPTED
        assert "请携带既往检查资料" in page.locator("main").inner_text()
        page.goto(f"/referrals/{upward.pk}/appointment-slip/")
        slip = page.locator("article").inner_text()
        assert timezone.localtime(upward.appointment_at, BEIJING).strftime("%Y-%m-%d %H:%M") in slip
        _verifies(page, language)

        # 5. Arrival, treatment, discharge with a downward referral and its follow-up plan.
        page.goto(f"/referrals/{upward.pk}/")
        _submit(page, "#action-arrive")
        _submit(page, "#action-start_treatment")
        upward.refresh_from_db()
        assert upward.status == ReferralStatus.IN_TREATMENT
        page.goto(f"/referrals/{upward.pk}/discharge/")
        page.fill("#id_discharge_summary", "血压平稳，出院继续口服降压药")
        due = (now.date() + datetime.timedelta(days=7)).isoformat()
        kinds = page.locator("select[name$='-kind']")
        for index in range(kinds.count()):
            if not page.locator(f"#id_tasks-{index}-due_on").input_value():
                page.fill(f"#id_tasks-{index}-due_on", due)
            if not kinds.nth(index).input_value():
                kinds.nth(index).select_option(index=1)
        page.fill("#id_tasks-0-instructions", "每周测血压两次")
        page.fill("#id_dx-0-code", "I10")
        page.fill("#id_rx-0-drug_name", "苯磺酸氨氯地平片")
        page.locator("#id_discharge_summary").locator("xpath=ancestor::form").locator("button[type=submit]").last.click()
        page.wait_for_url(re.compile(r"/referrals/\d+/$"))
        downward = Referral.objects.get(patient=patient, direction=Direction.DOWN)
        assert "血压平稳，出院继续口服降压药" in page.locator("main").inner_text()

        # 6. The clinic sees the downward referral and records the follow-up.
        _as(page, "clinician")
        page.goto(f"/referrals/{downward.pk}/")
        received = page.locator("main").inner_text()
        assert "血压平稳，出院继续口服降压药" in received and "每周测血压两次" in received and "苯磺酸氨氯地平片" in received
        _no_overflow(page, "downward referral (clinic)")
        page.goto(f"/referrals/{downward.pk}/print/")
        assert "血压平稳，出院继续口服降压药" in page.locator("article").inner_text()
        _verifies(page, language)
        task = FollowUpTask.objects.filter(referral=downward).order_by("due_on", "pk").first()
        page.goto("/referrals/follow-ups/")
        _no_overflow(page, "follow-ups")
        page.fill(f"#outcome-{task.pk}", "血压 138/86 mmHg，按时服药")
        page.locator(f"#outcome-{task.pk}").locator("xpath=ancestor::form").locator("button[type=submit]").click()
        page.wait_for_load_state("domcontentloaded")
        page.goto("/referrals/follow-ups/?all=1")
        assert "血压 138/86 mmHg，按时服药" in page.locator("main").inner_text()

        # 7. The clerk makes the claim for the visit and prints the statement.
        _as(page, "clerk")
        page.goto("/insurance/claims/")
        _no_overflow(page, "claims")
        option = page.locator(f"#id_encounter option[value='{encounter.pk}']")
        assert option.inner_text().startswith(visit_at.strftime("%Y-%m-%d %H:%M"))
        page.select_option("#id_encounter", value=str(encounter.pk))
        page.locator("#id_encounter").locator("xpath=ancestor::form").locator("button[type=submit]").click()
        page.wait_for_url(re.compile(r"/insurance/claims/[^/]+/$"))
        claim = Claim.objects.get(encounter=encounter)
        _no_overflow(page, "claim")
        page.goto(f"/insurance/claims/{claim.number}/statement/")
        statement = page.locator("article").inner_text()
        for value in ("覃秀英", "INS-STORY-1", claim.number, "10.00", visit_at.strftime("%Y-%m-%d %H:%M")):
            assert value in statement, value
        _verifies(page, language)
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"story-{size}-{language}.png"), full_page=True)
        context.close()
