"""The clerk prints the claim statement in Chromium; the insurance officer reviews a discrepancy."""

import io

import pytest

from consortium.permissions import SYSTEM
from insurance import services
from insurance.models import Claim, Discrepancy, DiscrepancyStatus
from tests.factories import TEST_PASSWORD
from tests.live import ARTIFACTS, browser_login

from .test_reconciliation import crafted_file

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_clerk_prints_the_claim_statement(page, chain, visit):
    claim = services.create_claim(encounter=visit(items=(("A", "200.00"), ("B", "300.00"), ("C", "50.00"))), actor=SYSTEM)
    browser_login(page, "clerk", TEST_PASSWORD)
    page.goto(f"/insurance/claims/{claim.number}/")
    assert page.locator("h1").inner_text() == "医保报销结算单"
    results = page.locator(".claim-steps tr.result").all_inner_texts()  # the one-stop total, then the steps' results
    assert any(row.endswith("314.50") for row in results) and any(row.endswith("235.50") for row in results)
    page.emulate_media(media="print")
    assert not page.locator(".topbar").is_visible()
    assert not page.get_by_role("button", name="为患者打印").is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = page.pdf(path=str(ARTIFACTS / "claim-statement.pdf"))
    assert pdf.startswith(b"%PDF")


def test_officer_explains_a_discrepancy(page, chain, visit):
    claims = [services.create_claim(encounter=visit(), actor=SYSTEM) for _ in range(7)]
    services.submit_claims(institution=chain["township"], period="2026-03", actor=SYSTEM)
    decisions = [services.Adjudication(c.number, "approved", None, []) for c in claims]
    services.adjudicate_claims(claims_queryset=Claim.objects.all(), decisions=decisions, actor=SYSTEM)
    settlement = services.store_settlement_file(
        office=chain["office"],
        period="2026-03",
        upload=io.BytesIO(crafted_file(claims).encode()),
        file_name="s.csv",
        encoding="utf-8",
        actor=SYSTEM,
    )
    run = services.run_reconciliation(settlement_file=settlement, institution=chain["township"], actor=SYSTEM)
    item = Discrepancy.objects.filter(run=run, kind="amount_mismatch").get()
    browser_login(page, "insurer", TEST_PASSWORD)
    page.goto("/insurance/reconciliations/")
    page.click(f"a[href='/insurance/reconciliations/{run.pk}/']")
    row = page.locator(f"#discrepancy-{item.pk}")
    row.locator("select").select_option("explained")
    row.locator("input[name=note]").fill("医保扣减 1.50 元手续费")
    row.get_by_role("button", name="保存").click()
    page.wait_for_selector(".messages")
    item.refresh_from_db()
    assert (item.status, item.note) == (DiscrepancyStatus.EXPLAINED, "医保扣减 1.50 元手续费")
