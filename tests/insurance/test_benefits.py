"""The benefit layers against the worked examples of docs/BENEFITS.md, and their invariants as property tests."""

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from insurance.calculator import (
    AssistanceTerms,
    Benefit,
    Benefits,
    ChargeLine,
    IllnessTerms,
    LevelTerms,
    OutpatientTerms,
    SpecialDiseaseTerms,
    Visit,
    YearSoFar,
    segmented,
    settle,
)

D = Decimal
SHARE = D("0.10")
LEVELS = {
    "township": LevelTerms(D("100"), D("0.85"), D("0.85"), D("150000"), SHARE, later_admission_deductible=D("50")),
    "county": LevelTerms(D("400"), D("0.75"), D("0.60"), D("150000"), SHARE, later_admission_deductible=D("200")),
    "city": LevelTerms(D("800"), D("0.55"), D("0.40"), D("150000"), SHARE, later_admission_deductible=D("400")),
}
POOL = OutpatientTerms(deductible=D("50"), primary_ratio=D("0.55"), other_ratio=D("0.40"), annual_cap=D("500"))
SPECIAL = SpecialDiseaseTerms(ratio=D("0.65"), annual_cap=D("3000"))
ILLNESS = IllnessTerms(
    threshold=D("15000"),
    segments=((D("0"), D("0.60")), (D("50000"), D("0.70")), (D("100000"), D("0.80"))),
    annual_cap=D("400000"),
)
LOW_INCOME = AssistanceTerms(group="low_income", ratio=D("0.60"), annual_cap=D("30000"))


def benefits(level, **extra):
    fields = {
        "deductible_per_admission": True,
        "annual_ceiling": D("150000"),
        "out_of_county_reduction": D("0.15"),
        "outpatient": POOL,
        "special_disease": SPECIAL,
        "illness": ILLNESS,
    }
    fields.update(extra)
    return Benefits(level=LEVELS[level], **fields)


def lines(*items):
    return [ChargeLine(f"X{i}", "item", cls, D(amount)) for i, (cls, amount) in enumerate(items)]


STAY = Visit(inpatient=True)


def test_first_admission_pays_the_level_deductible():
    s = settle(lines(("A", "2000.00")), benefits("township"), YearSoFar(), Visit(inpatient=True, primary_level=True))
    assert (s.basic.benefit, s.basic.deductible_applied, s.basic.reimbursed, s.patient_pays) == (
        Benefit.INPATIENT,
        D("100.00"),
        D("1615.00"),
        D("385.00"),
    )


def test_a_later_admission_pays_the_lower_deductible():
    s = settle(lines(("A", "2000.00")), benefits("township"), YearSoFar(admissions=1, deductible_paid=D("100")), STAY)
    assert (s.basic.deductible_applied, s.basic.reimbursed) == (D("50.00"), D("1657.50"))


def test_a_later_admission_without_its_own_deductible_pays_the_first_again():
    terms = LevelTerms(D("400"), D("0.75"), D("0.60"), D("150000"), SHARE)
    s = settle(lines(("A", "5000.00")), Benefits(level=terms, deductible_per_admission=True), YearSoFar(admissions=2), STAY)
    assert s.basic.deductible_applied == D("400.00")


def test_in_county_referral_pays_only_the_difference_of_the_deductibles():
    visit = Visit(inpatient=True, upward=True, referred=True, referring_deductible=D("100"))
    s = settle(lines(("A", "5000.00")), benefits("county"), YearSoFar(admissions=1), visit)
    # county's later-admission deductible 200 less the township's 100 already paid there
    assert (s.basic.deductible_applied, s.basic.ratio, s.basic.reimbursed) == (D("100.00"), D("0.75"), D("3675.00"))
    first = settle(lines(("A", "5000.00")), benefits("county"), YearSoFar(), visit)
    assert (first.basic.deductible_applied, first.basic.reimbursed) == (D("300.00"), D("3525.00"))


def test_unreferred_upward_stay_gets_the_lower_ratio_and_the_full_deductible():
    s = settle(lines(("A", "5000.00")), benefits("county"), YearSoFar(), Visit(inpatient=True, upward=True))
    assert (s.basic.deductible_applied, s.basic.ratio, s.basic.reimbursed) == (D("400.00"), D("0.60"), D("2760.00"))


def test_out_of_county_unreferred_stay_loses_the_reduction_points():
    visit = Visit(inpatient=True, upward=True, out_of_county=True)
    s = settle(lines(("A", "10000.00")), benefits("city"), YearSoFar(), visit)
    assert (s.basic.ratio, s.basic.reimbursed) == (D("0.25"), D("2300.00"))


def test_out_of_county_referred_stay_keeps_the_level_ratio_and_pays_its_full_deductible():
    visit = Visit(inpatient=True, upward=True, referred=True, out_of_county=True)
    s = settle(lines(("A", "10000.00")), benefits("city"), YearSoFar(), visit)
    assert (s.basic.deductible_applied, s.basic.ratio, s.basic.reimbursed) == (D("800.00"), D("0.55"), D("5060.00"))


def test_one_annual_ceiling_across_levels():
    """18,000 already paid at the township and the county; a city stay gets only the 2,000 left of 20,000."""
    visit = Visit(inpatient=True, upward=True, referred=True, out_of_county=True)
    s = settle(lines(("A", "10000.00")), benefits("city", annual_ceiling=D("20000")), YearSoFar(reimbursed=D("18000")), visit)
    assert (s.basic.computed, s.basic.ceiling_remaining, s.basic.reimbursed) == (D("5060.00"), D("2000.00"), D("2000.00"))


def test_outpatient_pooling_at_primary_level_with_its_small_deductible():
    s = settle(lines(("A", "200.00")), benefits("township"), YearSoFar(), Visit(primary_level=True))
    assert (s.basic.benefit, s.basic.deductible_applied, s.basic.ratio, s.basic.reimbursed) == (
        Benefit.OUTPATIENT_POOL,
        D("50.00"),
        D("0.55"),
        D("82.50"),
    )


def test_outpatient_pooling_cap_and_ratio_above_primary_level():
    capped = settle(
        lines(("A", "200.00")), benefits("township"), YearSoFar(outpatient_reimbursed=D("480")), Visit(primary_level=True)
    )
    assert capped.basic.reimbursed == D("20.00")
    county = settle(lines(("A", "200.00")), benefits("county"), YearSoFar(outpatient_deductible_paid=D("50")), Visit())
    assert (county.basic.deductible_applied, county.basic.reimbursed) == (D("0.00"), D("80.00"))


def test_outpatient_pooling_does_not_touch_the_inpatient_ceiling_or_deductible():
    s = settle(
        lines(("A", "200.00")),
        benefits("township"),
        YearSoFar(reimbursed=D("150000"), deductible_paid=D("0")),
        Visit(primary_level=True),
    )
    assert s.basic.reimbursed == D("82.50")


def test_chronic_special_disease_outpatient_for_an_enrolled_patient():
    enrolled = settle(lines(("A", "1000.00")), benefits("township"), YearSoFar(), Visit(primary_level=True, special_disease=True))
    assert (enrolled.basic.benefit, enrolled.basic.reimbursed) == (Benefit.SPECIAL_DISEASE, D("650.00"))
    near_cap = settle(
        lines(("A", "1000.00")), benefits("township"), YearSoFar(special_reimbursed=D("2900")), Visit(special_disease=True)
    )
    assert near_cap.basic.reimbursed == D("100.00")
    without_layer = settle(
        lines(("A", "1000.00")),
        benefits("township", special_disease=None),
        YearSoFar(),
        Visit(primary_level=True, special_disease=True),
    )
    assert without_layer.basic.benefit == Benefit.OUTPATIENT_POOL


def test_catastrophic_stay_reaches_critical_illness_insurance():
    s = settle(lines(("A", "100000.00")), benefits("county"), YearSoFar(), Visit(inpatient=True, upward=True))
    assert (s.basic.reimbursed, s.qualifying, s.illness_paid, s.assistance_paid, s.patient_pays) == (
        D("59760.00"),
        D("40240.00"),
        D("15144.00"),
        D("0.00"),
        D("25096.00"),
    )


def test_critical_illness_segments_across_a_boundary():
    # the year's qualifying self-pay moves from 60,000 to 80,000: 45,000–65,000 above the threshold
    assert segmented(D("60000"), D("20000"), ILLNESS) == D("13500.00")  # 5,000 × 0.6 + 15,000 × 0.7
    assert segmented(D("0"), D("15000"), ILLNESS) == D("0.00")
    assert segmented(D("14000"), D("2000"), ILLNESS) == D("600.00")


def test_critical_illness_cap():
    capped = IllnessTerms(threshold=ILLNESS.threshold, segments=ILLNESS.segments, annual_cap=D("400000"))
    s = settle(
        lines(("A", "100000.00")),
        benefits("county", illness=capped),
        YearSoFar(illness_paid=D("395000"), illness_qualifying=D("600000")),
        Visit(inpatient=True, upward=True),
    )
    assert s.illness_paid == D("5000.00")


def test_outpatient_pooling_claims_do_not_reach_critical_illness():
    s = settle(lines(("A", "200.00")), benefits("township"), YearSoFar(illness_qualifying=D("90000")), Visit(primary_level=True))
    assert s.illness_paid == D("0.00")


def test_low_income_patient_reaches_medical_assistance():
    s = settle(lines(("A", "6200.00"), ("B", "1800.00")), benefits("township", assistance=LOW_INCOME), YearSoFar(), STAY)
    assert (s.basic.eligible, s.basic.reimbursed, s.qualifying, s.illness_paid, s.assistance_paid, s.patient_pays) == (
        D("7820.00"),
        D("6562.00"),
        D("1258.00"),
        D("0.00"),
        D("754.80"),
        D("683.20"),
    )


def test_three_layers_on_one_claim():
    s = settle(
        lines(("A", "100000.00")), benefits("county", assistance=LOW_INCOME), YearSoFar(), Visit(inpatient=True, upward=True)
    )
    assert (s.basic.reimbursed, s.illness_paid, s.assistance_paid, s.patient_pays) == (
        D("59760.00"),
        D("15144.00"),
        D("15057.60"),
        D("10038.40"),
    )
    assert s.basic.reimbursed + s.illness_paid + s.assistance_paid + s.patient_pays == s.basic.total
    assert [step["key"] for step in s.steps()][-4:] == ["qualifying", "illness_paid", "assistance_paid", "patient_pays"]


def test_medical_assistance_cap():
    s = settle(
        lines(("A", "100000.00")),
        benefits("county", assistance=LOW_INCOME),
        YearSoFar(assistance_paid=D("29000")),
        Visit(inpatient=True, upward=True),
    )
    assert s.assistance_paid == D("1000.00")


money = st.decimals(min_value=D("0"), max_value=D("200000"), places=2, allow_nan=False, allow_infinity=False)
small = st.decimals(min_value=D("0"), max_value=D("5000"), places=2, allow_nan=False, allow_infinity=False)
ratio = st.decimals(min_value=D("0"), max_value=D("1"), places=4, allow_nan=False, allow_infinity=False)


@st.composite
def scenarios(draw):
    items = draw(st.lists(st.tuples(st.sampled_from("ABC"), money), min_size=0, max_size=6))
    normal = draw(ratio)
    level = LevelTerms(
        deductible=draw(small),
        ratio=normal,
        unreferred_ratio=draw(ratio.filter(lambda r: r <= normal)),
        annual_ceiling=draw(money),
        class_b_self_pay_share=draw(ratio),
        unreferred_deductible_carried=draw(st.booleans()),
        later_admission_deductible=draw(st.none() | small),
    )
    starts = sorted(set(draw(st.lists(money, min_size=0, max_size=3))) | {D("0")})
    terms = Benefits(
        level=level,
        deductible_per_admission=draw(st.booleans()),
        annual_ceiling=draw(st.none() | money),
        out_of_county_reduction=draw(ratio),
        outpatient=draw(st.none() | st.builds(OutpatientTerms, small, ratio, ratio, money)),
        special_disease=draw(st.none() | st.builds(SpecialDiseaseTerms, ratio, money)),
        illness=draw(
            st.none() | st.builds(IllnessTerms, money, st.just(tuple((s, draw(ratio)) for s in starts)), st.none() | money)
        ),
        assistance=draw(st.none() | st.builds(AssistanceTerms, st.just("low_income"), ratio, money)),
    )
    so_far = YearSoFar(
        deductible_paid=draw(small),
        reimbursed=draw(money),
        admissions=draw(st.integers(0, 5)),
        outpatient_deductible_paid=draw(small),
        outpatient_reimbursed=draw(money),
        special_reimbursed=draw(money),
        illness_qualifying=draw(money),
        illness_paid=draw(money),
        assistance_paid=draw(money),
    )
    visit = Visit(
        inpatient=draw(st.booleans()),
        upward=draw(st.booleans()),
        referred=draw(st.booleans()),
        out_of_county=draw(st.booleans()),
        primary_level=draw(st.booleans()),
        special_disease=draw(st.booleans()),
        referring_deductible=draw(st.none() | small),
    )
    return lines(*items), terms, so_far, visit


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_layers_never_pay_more_than_eligible_and_the_patient_never_pays_negative(scenario):
    items, terms, so_far, visit = scenario
    s = settle(items, terms, so_far, visit)
    basic = s.basic
    assert basic.reimbursed >= 0 and s.illness_paid >= 0 and s.assistance_paid >= 0
    assert basic.reimbursed + s.illness_paid + s.assistance_paid <= basic.eligible <= basic.total
    assert s.illness_paid <= s.qualifying
    assert s.patient_pays >= 0
    assert basic.reimbursed + s.illness_paid + s.assistance_paid + s.patient_pays == basic.total
    for value in (s.qualifying, s.illness_paid, s.assistance_paid, s.patient_pays):
        assert value == value.quantize(D("0.01"))
    if terms.illness is not None and terms.illness.annual_cap is not None and so_far.illness_paid <= terms.illness.annual_cap:
        assert so_far.illness_paid + s.illness_paid <= terms.illness.annual_cap
    if terms.assistance is not None and so_far.assistance_paid <= terms.assistance.annual_cap:
        assert so_far.assistance_paid + s.assistance_paid <= terms.assistance.annual_cap
