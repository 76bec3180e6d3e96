"""Web pages: claims with the printable calculation, and the reconciliation review."""

import io

import pytest
from django.urls import reverse
from django.utils import timezone

from consortium.permissions import SYSTEM
from insurance import services
from insurance.models import Claim, ClaimStatus, Discrepancy, DiscrepancyStatus, Enrolment, Policy
from tests.factories import PatientFactory

from .test_reconciliation import crafted_file


def test_clerk_creates_a_claim_and_prints_it(chain, login, visit, policy, scheme):
    now = timezone.now()
    patient = PatientFactory(home_institution=chain["township"])
    Enrolment.objects.create(patient=patient, scheme=scheme, year=now.year, insurance_number="INS-NOW")
    if now.year != policy.year:
        services.publish_policy(policy=Policy.objects.filter(pk=_copy_to_year(policy, now.year).pk).get(), actor=SYSTEM)
    encounter = visit(patient=patient, items=(("A", "200.00"), ("B", "300.00"), ("C", "50.00")), when=now)
    client = login(chain["staff"]["clerk"])
    page = client.get(reverse("insurance:claim-list"))
    assert page.status_code == 200 and f'value="{encounter.pk}"' in page.content.decode()
    response = client.post(reverse("insurance:claim-create"), {"encounter": encounter.pk})
    claim = Claim.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("insurance:claim-detail", args=[claim.number])
    html = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    for text in ("314.50", "235.50", "470.00", "claim-statement.css", "data-print"):  # print styles live in that file
        assert text in html
    zh = client.get(response["Location"]).content.decode()
    assert "报销" in zh


def _copy_to_year(policy, year):
    copy = Policy.objects.create(scheme=policy.scheme, year=year, class_b_self_pay_share=policy.class_b_self_pay_share)
    for rule in policy.level_rules.all():
        rule.pk = None
        rule.policy = copy
        rule.save()
    return copy


def test_claim_create_refuses_bad_input(chain, login, visit):
    client = login(chain["staff"]["clerk"])
    response = client.post(reverse("insurance:claim-create"), {"encounter": "999999"})
    assert response.status_code == 400 and not Claim.objects.exists()


def test_other_institutions_claims_are_hidden(chain, login, visit):
    claim = services.create_claim(encounter=visit(), actor=SYSTEM)
    outsider = login(chain["staff"]["outsider"])
    assert outsider.get(reverse("insurance:claim-detail", args=[claim.number])).status_code == 404
    assert claim.number not in outsider.get(reverse("insurance:claim-list")).content.decode()


def test_submit_batch_and_correct_from_the_web(chain, login, visit):
    claim = services.create_claim(encounter=visit(), actor=SYSTEM)
    client = login(chain["staff"]["clerk"])
    bad = client.post(reverse("insurance:batch-submit"), {"institution": chain["township"].pk, "period": "2026/03"})
    assert bad.status_code == 400
    client.post(reverse("insurance:batch-submit"), {"institution": chain["township"].pk, "period": "2026-03"})
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SUBMITTED
    services.adjudicate_claims(
        claims_queryset=Claim.objects.all(), decisions=[services.Adjudication(claim.number, "approved", None, [])], actor=SYSTEM
    )
    assert client.post(reverse("insurance:claim-correct", args=[claim.number]), {"reason": ""}).status_code == 400
    response = client.post(reverse("insurance:claim-correct", args=[claim.number]), {"reason": "重新计算"})
    assert response.status_code == 302
    reversal_page = client.get(reverse("insurance:claim-detail", args=[f"{claim.number}-R"])).content.decode()
    assert "冲销的报销单" in reversal_page and claim.number in reversal_page
    assert Claim.objects.filter(kind="reversal", reverses=claim).exists() and Claim.objects.filter(replaces=claim).exists()


@pytest.fixture
def reconciled(chain, visit):
    claims = [services.create_claim(encounter=visit(), actor=SYSTEM) for _ in range(7)]
    services.submit_claims(institution=chain["township"], period="2026-03", actor=SYSTEM)
    decisions = [services.Adjudication(c.number, "approved", None, []) for c in claims[:6]]
    decisions.append(services.Adjudication(claims[6].number, "rejected", None, ["R10"]))
    services.adjudicate_claims(claims_queryset=Claim.objects.all(), decisions=decisions, actor=SYSTEM)
    settlement = services.store_settlement_file(
        office=chain["office"],
        period="2026-03",
        upload=io.BytesIO(crafted_file(claims).encode()),
        file_name="s.csv",
        encoding="utf-8",
        actor=SYSTEM,
    )
    return services.run_reconciliation(settlement_file=settlement, institution=chain["township"], actor=SYSTEM)


@pytest.mark.parametrize("who", ["insurance", "hospital_admin", "clerk"])
def test_review_page_for_officers_and_finance(chain, login, reconciled, who):
    client = login(chain["staff"][who])
    listing = client.get(reverse("insurance:reconciliation-list"))
    detail = client.get(reverse("insurance:reconciliation-detail", args=[reconciled.pk]))
    if who == "hospital_admin":  # the city hospital's finance does not see the township's run
        assert detail.status_code == 404
        return
    assert listing.status_code == 200 and detail.status_code == 200
    assert "鸣凤镇卫生院" in detail.content.decode()


def test_discrepancy_review_and_close_from_the_web(chain, login, reconciled):
    client = login(chain["staff"]["insurance"])
    item = Discrepancy.objects.filter(run=reconciled, status=DiscrepancyStatus.OPEN).first()
    bad = client.post(reverse("insurance:discrepancy-update", args=[item.pk]), {"status": "resolved", "note": ""})
    assert bad.status_code == 400 and "note" in bad.context["form"].errors
    close = reverse("insurance:period-close", args=[reconciled.pk])
    client.post(close)
    assert services.is_open_period(chain["township"].pk, "2026-03")
    for d in Discrepancy.objects.filter(run=reconciled, status=DiscrepancyStatus.OPEN):
        client.post(reverse("insurance:discrepancy-update", args=[d.pk]), {"status": "explained", "note": "医保说明"})
    client.post(close)
    assert not services.is_open_period(chain["township"].pk, "2026-03")
    page = client.get(reverse("insurance:reconciliation-detail", args=[reconciled.pk])).content.decode()
    assert "discrepancy-update" not in page and 'action="/insurance/discrepancies/' not in page


def test_outsider_cannot_review_or_update(chain, login, reconciled):
    client = login(chain["staff"]["outsider"])
    assert client.get(reverse("insurance:reconciliation-list")).status_code == 403
    item = Discrepancy.objects.filter(run=reconciled).first()
    response = client.post(reverse("insurance:discrepancy-update", args=[item.pk]), {"status": "resolved", "note": "x"})
    assert response.status_code == 404
