"""The consortium fund: its arithmetic against worked examples and properties, the ledger and its services."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from consortium.errors import Conflict, Invalid, NotPermitted
from consortium.models import AuditEvent
from consortium.permissions import SYSTEM
from insurance import fund_services
from insurance import services as claim_services
from insurance.fund import clearing, largest_remainder, provisional, split_surplus
from insurance.fund_selectors import supervision_signals
from insurance.models import FundEntry, FundEntryKind, PerformanceScore

from .conftest import at

D = Decimal


# --- arithmetic ----------------------------------------------------------------------------------


def test_largest_remainder_worked_example():
    # 100.00 by 1:1:1 → 33.333… each; the one fen left goes to the first of the tied remainders
    assert largest_remainder(D("100.00"), {1: D(1), 2: D(1), 3: D(1)}) == {1: D("33.34"), 2: D("33.33"), 3: D("33.33")}
    # 1,000.00 by scores 90, 80, 75: exact 367.3469…, 326.5306…, 306.1224… → floors 367.34, 326.53, 306.12
    # (999.99); the fen goes to the largest remainder (0.69 of a fen, the first member)
    assert split_surplus(D("1000.00"), {10: D("90"), 11: D("80"), 12: D("75")}) == {
        10: D("367.35"),
        11: D("326.53"),
        12: D("306.12"),
    }


def test_zero_scores_share_equally_and_a_zero_score_gets_nothing():
    assert largest_remainder(D("0.02"), {1: D(0), 2: D(0), 3: D(0)}) == {1: D("0.01"), 2: D("0.01"), 3: D("0.00")}
    assert largest_remainder(D("10.00"), {1: D(0), 2: D(5)}) == {1: D("0.00"), 2: D("10.00")}


def test_provisional_worked_example():
    result = provisional(D("1200000.00"), 2, {1: D("120000.00"), 2: D("60000.00")})
    assert (result.budget_to_date, result.fund_paid, result.balance) == (D("200000.00"), D("180000.00"), D("20000.00"))
    assert result.shares == {1: D("0.6667"), 2: D("0.3333")}


def test_clearing_with_a_surplus():
    result = clearing(D("1000000.00"), D("920000.00"), D("1000000.00"), D("0.10"), D("0.50"))
    assert (result.surplus, result.overspend, result.insurer_owes, result.balance_due) == (
        D("80000.00"),
        D("0.00"),
        D("1000000.00"),
        D("0.00"),
    )


def test_clearing_with_a_reasonable_and_an_unreasonable_overspend():
    within = clearing(D("1000000.00"), D("1060000.00"), D("900000.00"), D("0.10"), D("0.50"))
    assert (within.reasonable_overspend, within.insurer_overspend, within.consortium_overspend, within.balance_due) == (
        D("60000.00"),
        D("30000.00"),
        D("30000.00"),
        D("130000.00"),
    )
    beyond = clearing(D("1000000.00"), D("1250000.00"), D("1000000.00"), D("0.10"), D("0.50"))
    # only 10% of the budget is reasonable: the insurer bears half of 100,000, the consortium the other 200,000
    assert (beyond.reasonable_overspend, beyond.insurer_overspend, beyond.consortium_overspend) == (
        D("100000.00"),
        D("50000.00"),
        D("200000.00"),
    )


@settings(max_examples=300, deadline=None)
@given(
    st.decimals(min_value=D("0"), max_value=D("100000000"), places=2, allow_nan=False, allow_infinity=False),
    st.lists(
        st.decimals(min_value=D("0"), max_value=D("100"), places=2, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=50,
    ),
)
def test_surplus_shares_always_add_up_to_the_fen(surplus, scores):
    weights = dict(enumerate(scores))
    shares = split_surplus(surplus, weights)
    assert sum(shares.values(), D("0")) == surplus
    total = sum(scores, D("0"))
    for key, share in shares.items():
        assert share >= 0 and share == share.quantize(D("0.01"))
        exact = surplus * (weights[key] / total if total else D(1) / len(scores))
        assert abs(share - exact) < D("0.01")


# --- the ledger and its services ----------------------------------------------------------------


@pytest.fixture
def insurer(chain):
    return chain["staff"]["insurance"].user


@pytest.fixture
def fund(chain, scheme, insurer):
    return fund_services.create_fund(
        consortium=chain["consortium"], scheme=scheme, year=2026, office=chain["office"], budget=D("12000.00"), actor=insurer
    )


def claims_at(visit, chain, amounts, month=3):
    made = []
    for index, amount in enumerate(amounts):
        claim = claim_services.create_claim(
            encounter=visit(items=(("A", amount),), when=at(month=month, day=5 + index)), actor=SYSTEM
        )
        made.append(claim)
    return made


def test_a_year_of_the_fund(chain, visit, fund, insurer):
    outsider_claim = claim_services.create_claim(
        encounter=visit(institution=chain["outsider"], items=(("A", "900.00"),)), actor=SYSTEM
    )  # not a member: never in the fund
    assert outsider_claim.reimbursed > 0
    claims_at(visit, chain, ["500.00", "1100.00"], month=1)  # township: 340.00 + 850.00
    city_patient_claim = claim_services.create_claim(
        encounter=visit(institution=chain["city"], items=(("A", "2000.00"),), when=at(month=2)), actor=SYSTEM
    )  # city, unreferred: (2000 − 800) × 0.40 = 480.00
    assert city_patient_claim.reimbursed == D("480.00")
    fund_services.post_prepayment(fund=fund, period="2026-01", amount=D("1000.00"), actor=insurer)
    fund_services.post_prepayment(fund=fund, period="2026-02", amount=D("1000.00"), actor=insurer)
    with pytest.raises(Conflict):
        fund_services.post_prepayment(fund=fund, period="2026-02", amount=D("1000.00"), actor=insurer)
    january = fund_services.settle_month(fund=fund, period="2026-01", actor=insurer)
    february = fund_services.settle_month(fund=fund, period="2026-02", actor=insurer)
    assert (january.amount, january.detail["budget_to_date"], january.detail["balance"]) == (D("1190.00"), "1000.00", "-190.00")
    assert february.amount == D("1670.00") and february.detail["prepaid_to_date"] == "2000.00"
    township = str(chain["township"].pk)
    assert february.detail["members"][township] == {"paid": "1190.00", "share": "0.7126"}

    with pytest.raises(Invalid) as refused:
        fund_services.clear_year(fund=fund, actor=insurer)
    assert refused.value.field == "snapshot"
    admin = chain["staff"]["consortium_admin"].user
    members = {chain["city"].pk: D("90"), chain["township"].pk: D("80"), chain["village"].pk: D("75")}
    with pytest.raises(Invalid) as refused:
        fund_services.freeze_performance(fund=fund, scores={chain["city"].pk: D("90")}, actor=admin)
    assert str(chain["village"].pk) in refused.value.errors
    snapshot = fund_services.freeze_performance(fund=fund, scores=members, actor=admin)

    result, shares, _ = fund_services.preview_clearing(fund=fund, actor=admin)
    assert (result.fund_paid, result.surplus) == (D("1670.00"), D("10330.00"))
    assert sum(shares.values()) == D("10330.00")
    assert FundEntry.objects.filter(kind=FundEntryKind.CLEARING).count() == 0
    assert AuditEvent.objects.filter(action="insurance.fund_clearing_previewed").count() == 1

    entries = fund_services.clear_year(fund=fund, actor=insurer, snapshot=snapshot)
    clearing_entry, *member_shares = entries
    assert clearing_entry.amount == D("10000.00")  # budget 12,000 less 2,000 prepaid
    assert sum(e.amount for e in member_shares) == D("10330.00")
    assert {e.institution_id: e.amount for e in member_shares} == shares
    with pytest.raises(Conflict):
        fund_services.clear_year(fund=fund, actor=insurer, snapshot=snapshot)

    reversal = fund_services.reverse_fund_entry(entry=clearing_entry, actor=insurer, reason="成绩复核")
    assert reversal.amount == -clearing_entry.amount
    assert FundEntry.objects.filter(kind=FundEntryKind.REVERSAL).count() == 1 + len(member_shares)
    again = fund_services.clear_year(fund=fund, actor=insurer, snapshot=snapshot)
    assert again[0].sequence > reversal.sequence
    assert list(fund.entries.values_list("sequence", flat=True)) == list(range(1, fund.entries.count() + 1))


def test_posted_entries_are_never_updated(fund):
    entry = fund.entries.get()
    entry.amount = D("1.00")
    with pytest.raises(ValidationError):
        entry.save()
    with pytest.raises(ValidationError):
        FundEntry.objects.filter(pk=entry.pk).update(amount=D("1.00"))
    with pytest.raises(ValidationError):
        entry.delete()
    with pytest.raises(ValidationError):
        FundEntry.objects.filter(pk=entry.pk).delete()
    assert FundEntry.objects.get(pk=entry.pk).amount == D("12000.00")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the database trigger is PostgreSQL's")
def test_the_database_refuses_an_update_of_a_posted_entry(fund):
    entry = fund.entries.get()
    with pytest.raises(Exception, match="never changed"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE insurance_fundentry SET amount = 1 WHERE id = %s", [entry.pk])
    assert FundEntry.objects.get(pk=entry.pk).amount == D("12000.00")


def test_frozen_scores_are_never_changed(chain, fund):
    snapshot = fund_services.freeze_performance(
        fund=fund,
        scores={chain["city"].pk: D("90"), chain["township"].pk: D("80"), chain["village"].pk: D("75")},
        actor=chain["staff"]["consortium_admin"].user,
    )
    score = snapshot.scores.first()
    score.score = D("100")
    with pytest.raises(ValidationError):
        score.save()
    with pytest.raises(ValidationError):
        PerformanceScore.objects.filter(snapshot=snapshot).update(score=D("100"))


def test_who_may_post_and_see(chain, scheme, fund, insurer):
    with pytest.raises(NotPermitted):
        fund_services.post_prepayment(fund=fund, period="2026-01", amount=D("1"), actor=chain["staff"]["clerk"].user)
    with pytest.raises(NotPermitted):
        fund_services.post_prepayment(fund=fund, period="2026-01", amount=D("1"), actor=chain["staff"]["consortium_admin"].user)
    with pytest.raises(NotPermitted):
        fund_services.freeze_performance(fund=fund, scores={}, actor=insurer)
    with pytest.raises(NotPermitted):
        fund_services.preview_clearing(fund=fund, actor=chain["staff"]["outsider"].user)
    assert FundEntry.objects.count() == 1


def test_bad_input_names_the_field(chain, scheme, fund, insurer):
    for period, field in (("2025-12", "period"), ("2026-13", "period"), ("march", "period")):
        with pytest.raises(Invalid) as refused:
            fund_services.post_prepayment(fund=fund, period=period, amount=D("1"), actor=insurer)
        assert refused.value.field == field
    with pytest.raises(Invalid) as refused:
        fund_services.post_prepayment(fund=fund, period="2026-01", amount=D("0"), actor=insurer)
    assert refused.value.field == "amount"
    with pytest.raises(Conflict):
        fund_services.create_fund(
            consortium=chain["consortium"], scheme=scheme, year=2026, office=chain["office"], budget=D("1"), actor=insurer
        )
    with pytest.raises(Invalid) as refused:
        fund_services.reverse_fund_entry(entry=fund.entries.get(), actor=insurer, reason="")
    assert refused.value.field == "reason"
    with pytest.raises(Conflict):
        fund_services.reverse_fund_entry(entry=fund.entries.get(), actor=insurer, reason="预算不可冲销")
    assert FundEntry.objects.count() == 1


def test_supervision_signals(chain, visit, fund):
    from records.models import EncounterKind

    def stay(month, amount, count):
        for day in range(count):
            encounter = visit(items=(("A", amount),), when=at(month=month, day=day + 1))
            encounter.kind = EncounterKind.INPATIENT
            encounter.save(update_fields=["kind"])
            claim_services.create_claim(encounter=encounter, actor=SYSTEM)

    for month in (1, 2, 3):
        stay(month, "1000.00", 3)
    for month in (4, 5, 6):
        stay(month, "3000.00", 1)
    signals = supervision_signals(fund, "2026-06")
    assert [m["admissions"] for m in signals["months"]] == [3, 3, 3, 1, 1, 1]
    assert "admissions_down_cost_up" in signals["signs"]


def test_fund_page_for_the_administrator_and_the_officer(chain, visit, fund, insurer, login):
    claims_at(visit, chain, ["500.00"], month=1)
    fund_services.post_prepayment(fund=fund, period="2026-01", amount=D("1000.00"), actor=insurer)
    fund_services.settle_month(fund=fund, period="2026-01", actor=insurer)
    admin = login(chain["staff"]["consortium_admin"])
    url = reverse("insurance:fund-detail", args=[fund.pk])
    html = admin.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    for text in (
        "Where the year stands",
        "1000.00",
        "340.00",
        "Year-end clearing (dry run, nothing posted)",
        "Freeze performance scores",
    ):
        assert text in html
    assert "Post prepayment" not in html
    scores = {f"score-{m.pk}": "80" for m in (chain["city"], chain["township"], chain["village"])}
    response = admin.post(reverse("insurance:fund-action", args=[fund.pk, "freeze"]), scores)
    assert response.status_code == 302 and fund.snapshots.count() == 1
    html = admin.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Surplus split by the frozen performance scores" in html and "11,660.00" in html
    refused = admin.post(reverse("insurance:fund-action", args=[fund.pk, "prepayment"]), {"period": "2026-02", "amount": "1"})
    assert refused.status_code == 403 and fund.entries.count() == 3
    officer = login(chain["staff"]["insurance"])
    bad = officer.post(
        reverse("insurance:fund-action", args=[fund.pk, "prepayment"]), {"period": "2026-02", "amount": "x"}, follow=True
    )
    assert "Enter an amount" in bad.content.decode() or "请输入" in bad.content.decode()
    assert fund.entries.count() == 3
    officer.post(reverse("insurance:fund-action", args=[fund.pk, "prepayment"]), {"period": "2026-02", "amount": "1000.00"})
    assert fund.entries.count() == 4
    outsider = login(chain["staff"]["outsider"])
    assert outsider.get(url).status_code == 404


def test_fund_api_for_the_insurer(chain, visit, fund, office_api):
    listed = office_api.get(reverse("api-insurance-funds")).data
    assert listed["count"] == 1
    url = reverse("api-insurance-fund-entries", args=[fund.pk])
    response = office_api.post(
        url, {"kind": "prepayment", "period": "2026-01", "amount": "1000.00"}, format="json", HTTP_IDEMPOTENCY_KEY="p1"
    )
    assert response.status_code == 201 and response.data[0]["amount"] == "1000.00"
    again = office_api.post(
        url, {"kind": "prepayment", "period": "2026-01", "amount": "1000.00"}, format="json", HTTP_IDEMPOTENCY_KEY="p1"
    )
    assert again.status_code == 201 and fund.entries.count() == 2
    bad = office_api.post(url, {"kind": "prepayment", "amount": "1000.00"}, format="json", HTTP_IDEMPOTENCY_KEY="p2")
    assert bad.status_code == 400 and "period" in str(bad.data)
    detail = office_api.get(reverse("api-insurance-fund", args=[fund.pk])).data
    assert [e["kind"] for e in detail["entries"]] == ["budget", "prepayment"]
    reversal = office_api.post(
        url, {"kind": "reversal", "sequence": 2, "reason": "录入错误"}, format="json", HTTP_IDEMPOTENCY_KEY="r1"
    )
    assert reversal.status_code == 201 and reversal.data[0]["amount"] == "-1000.00" and reversal.data[0]["reverses"] == 2


# --- residents treated outside the county ------------------------------------------------------


def test_provisional_counts_what_was_paid_outside_the_county():
    result = provisional(D("1200000.00"), 2, {1: D("120000.00"), 2: D("60000.00")}, D("30000.00"))
    assert (result.fund_paid, result.outside_paid, result.balance) == (D("210000.00"), D("30000.00"), D("-10000.00"))
    assert result.shares == {1: D("0.6667"), 2: D("0.3333")}  # the members' shares of what was paid at members
    with pytest.raises(ValueError):
        provisional(D("1.00"), 1, {}, D("-0.01"))


def test_the_fund_covers_its_residents_outside_the_county(chain, scheme, visit, fund, insurer):
    from insurance.out_of_county import COLUMNS, land_out_of_county_file
    from tests.factories import InsuranceOfficeFactory, PatientFactory

    claims_at(visit, chain, ["500.00"], month=1)  # at the township: 340.00
    resident = PatientFactory(home_institution=chain["village"], insurance_number="H420525000555")
    PatientFactory(home_institution=chain["outsider"], insurance_number="H360722000001")
    header = ",".join(COLUMNS)
    lines = [
        "S-1,H420525000555,URRBMI,武汉协和医院,420102,city_hospital,inpatient,2026-01-20,5000.00,2500.00",
        "S-2,H420525000555,URRBMI,武汉协和医院,420102,city_hospital,outpatient,2026-03-02,300.00,120.00",
        "S-3,H420525000555,URRBMI,武汉协和医院,420102,city_hospital,outpatient,2025-12-30,300.00,99.00",  # last year
        "S-4,H360722000001,URRBMI,武汉协和医院,420102,city_hospital,outpatient,2026-01-05,300.00,77.00",  # not a resident
    ]
    land_out_of_county_file(office=chain["office"], upload="\n".join([header, *lines]).encode(), file_name="a.csv", actor=SYSTEM)
    other_office = InsuranceOfficeFactory()
    land_out_of_county_file(
        office=other_office,
        upload=f"{header}\nS-9,H420525000555,URRBMI,某医院,420102,city_hospital,outpatient,2026-01-09,100.00,55.00\n".encode(),
        file_name="b.csv",
        actor=SYSTEM,
    )  # another office's data is not this fund's
    assert resident.pk
    january = fund_services.settle_month(fund=fund, period="2026-01", actor=insurer)
    assert (january.amount, january.detail["outside_paid"]) == (D("2840.00"), "2500.00")
    assert january.detail["balance"] == "-1840.00"  # budget to January 1,000.00
    result, _shares, _snapshot = fund_services.preview_clearing(fund=fund, actor=chain["staff"]["consortium_admin"].user)
    assert result.fund_paid == D("2960.00")  # 340 at members + 2,500 + 120 outside
