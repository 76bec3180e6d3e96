"""The calculator against worked examples, and its invariants as property tests."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from insurance.calculator import ChargeLine, LevelTerms, YearSoFar, calculate, to_fen

D = Decimal
B_SHARE = D("0.10")
TERMS = {
    "village": LevelTerms(D("0"), D("0.90"), D("0.90"), D("100000"), B_SHARE),
    "township": LevelTerms(D("100"), D("0.85"), D("0.85"), D("100000"), B_SHARE),
    "county": LevelTerms(D("400"), D("0.75"), D("0.60"), D("100000"), B_SHARE),
    "city": LevelTerms(D("800"), D("0.55"), D("0.40"), D("100000"), B_SHARE),
}


def lines(*items):
    return [ChargeLine(f"X{i}", "item", cls, D(amount)) for i, (cls, amount) in enumerate(items)]


# level, lines, so far (deductible paid, reimbursed), upward, referred,
# expected (eligible, deductible applied, ratio, reimbursed, self-pay)
WORKED_EXAMPLES = [
    pytest.param(
        "township",
        [("A", "500.00")],
        ("0", "0"),
        False,
        False,
        ("500.00", "100.00", "0.85", "340.00", "160.00"),
        id="township-first-visit",
    ),
    pytest.param(
        "township",
        [("A", "200.00"), ("B", "300.00"), ("C", "50.00")],
        ("0", "0"),
        False,
        False,
        ("470.00", "100.00", "0.85", "314.50", "235.50"),
        id="township-class-b-self-pay-share-and-class-c",
    ),
    pytest.param(
        "township", [("A", "60.00")], ("0", "0"), False, False, ("60.00", "60.00", "0.85", "0.00", "60.00"), id="below-deductible"
    ),
    pytest.param(
        "township",
        [("A", "80.00")],
        ("60", "0"),
        False,
        False,
        ("80.00", "40.00", "0.85", "34.00", "46.00"),
        id="deductible-carried-over",
    ),
    pytest.param(
        "county",
        [("A", "1000.00")],
        ("100", "0"),
        True,
        True,
        ("1000.00", "300.00", "0.75", "525.00", "475.00"),
        id="county-referred",
    ),
    pytest.param(
        "county",
        [("A", "1000.00")],
        ("100", "0"),
        True,
        False,
        ("1000.00", "400.00", "0.60", "360.00", "640.00"),
        id="county-unreferred",
    ),
    pytest.param(
        "city",
        [("A", "2000.00")],
        ("400", "0"),
        True,
        True,
        ("2000.00", "400.00", "0.55", "880.00", "1120.00"),
        id="city-referred",
    ),
    pytest.param(
        "city",
        [("A", "2000.00")],
        ("400", "0"),
        True,
        False,
        ("2000.00", "800.00", "0.40", "480.00", "1520.00"),
        id="city-unreferred",
    ),
    pytest.param(
        "city",
        [("A", "1500.00"), ("B", "1000.00")],
        ("900", "0"),
        True,
        True,
        ("2400.00", "0.00", "0.55", "1320.00", "1180.00"),
        id="city-referred-deductible-already-met",
    ),
    pytest.param(
        "township",
        [("A", "500.00")],
        ("100", "99900"),
        False,
        False,
        ("500.00", "0.00", "0.85", "100.00", "400.00"),
        id="ceiling-reached",
    ),
    pytest.param(
        "township",
        [("A", "500.00")],
        ("100", "100000"),
        False,
        False,
        ("500.00", "0.00", "0.85", "0.00", "500.00"),
        id="ceiling-used-up",
    ),
    pytest.param(
        "township",
        [("A", "0.10")],
        ("100", "0"),
        False,
        False,
        ("0.10", "0.00", "0.85", "0.09", "0.01"),
        id="half-up-rounding-of-ratio",
    ),
    pytest.param(
        "village",
        [("B", "0.05")],
        ("0", "0"),
        False,
        False,
        ("0.05", "0.00", "0.90", "0.05", "0.00"),
        id="half-up-rounding-of-class-b",
    ),
    pytest.param(
        "village", [("C", "35.00")], ("0", "0"), False, False, ("0.00", "0.00", "0.90", "0.00", "35.00"), id="class-c-only"
    ),
]


@pytest.mark.parametrize(("level", "items", "so_far", "upward", "referred", "expected"), WORKED_EXAMPLES)
def test_worked_examples(level, items, so_far, upward, referred, expected):
    result = calculate(lines(*items), TERMS[level], YearSoFar(D(so_far[0]), D(so_far[1])), upward=upward, referred=referred)
    eligible, deductible, ratio, reimbursed, self_pay = (D(v) for v in expected)
    assert (result.eligible, result.deductible_applied, result.ratio, result.reimbursed, result.self_pay) == (
        eligible,
        deductible,
        ratio,
        reimbursed,
        self_pay,
    )


def test_class_b_line_shows_its_self_pay_share():
    result = calculate(lines(("B", "33.33")), TERMS["village"], YearSoFar(), upward=False, referred=False)
    assert result.lines[0].eligible == D("30.00")  # 29.997 rounded half up
    assert result.lines[0].class_self_pay == D("3.33")


def test_policy_may_credit_deductible_on_unreferred_visits():
    terms = LevelTerms(D("400"), D("0.75"), D("0.60"), D("100000"), B_SHARE, unreferred_deductible_carried=True)
    result = calculate(lines(("A", "1000.00")), terms, YearSoFar(D("100"), D("0")), upward=True, referred=False)
    assert result.deductible_applied == D("300.00")
    assert result.ratio == D("0.60")


def test_to_fen_is_half_up():
    assert to_fen(D("0.085")) == D("0.09")
    assert to_fen(D("0.084999")) == D("0.08")


def test_steps_are_recorded_in_order():
    result = calculate(lines(("A", "500.00")), TERMS["township"], YearSoFar(), upward=False, referred=False)
    assert [s["key"] for s in result.steps()][0] == "total"
    assert result.steps()[-1] == {"key": "self_pay", "amount": "160.00"}


money = st.decimals(min_value=D("0"), max_value=D("50000"), places=2, allow_nan=False, allow_infinity=False)
ratio = st.decimals(min_value=D("0"), max_value=D("1"), places=4, allow_nan=False, allow_infinity=False)


@st.composite
def scenarios(draw):
    items = draw(st.lists(st.tuples(st.sampled_from("ABC"), money), min_size=0, max_size=8))
    normal = draw(ratio)
    terms = LevelTerms(
        deductible=draw(money),
        ratio=normal,
        unreferred_ratio=draw(ratio.filter(lambda r: r <= normal)),
        annual_ceiling=draw(money),
        class_b_self_pay_share=draw(ratio),
        unreferred_deductible_carried=draw(st.booleans()),
    )
    so_far = YearSoFar(deductible_paid=draw(money), reimbursed=draw(money))
    return lines(*items), terms, so_far, draw(st.booleans()), draw(st.booleans())


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_invariants(scenario):
    items, terms, so_far, upward, referred = scenario
    result = calculate(items, terms, so_far, upward=upward, referred=referred)
    assert result.reimbursed + result.self_pay == result.total
    assert result.reimbursed >= 0 and result.self_pay >= 0 and result.deductible_applied >= 0
    assert result.reimbursed <= result.eligible <= result.total
    assert result.reimbursed <= max(D("0"), terms.annual_ceiling - so_far.reimbursed)
    if so_far.reimbursed <= terms.annual_ceiling:
        assert so_far.reimbursed + result.reimbursed <= terms.annual_ceiling
    assert result.deductible_applied <= terms.deductible
    for line in result.lines:
        assert line.eligible + line.class_self_pay == line.line.amount
        assert line.eligible >= 0 and line.class_self_pay >= 0
    for value in (result.total, result.eligible, result.reimbursed, result.self_pay):
        assert value == value.quantize(D("0.01"))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.tuples(st.sampled_from("ABC"), money), min_size=1, max_size=4), min_size=1, max_size=12),
    st.sampled_from(sorted(TERMS)),
)
def test_a_year_of_claims_never_passes_deductible_or_ceiling(visits, level):
    """Claims applied one after another, as the accumulator does, stay within the year's numbers."""
    terms = TERMS[level]
    terms = LevelTerms(terms.deductible, terms.ratio, terms.unreferred_ratio, D("5000.00"), terms.class_b_self_pay_share)
    so_far = YearSoFar()
    for items in visits:
        result = calculate(lines(*items), terms, so_far, upward=False, referred=False)
        assert result.reimbursed + result.self_pay == result.total
        so_far = YearSoFar(so_far.deductible_paid + result.deductible_applied, so_far.reimbursed + result.reimbursed)
    assert so_far.deductible_paid <= terms.deductible
    assert so_far.reimbursed <= terms.annual_ceiling
