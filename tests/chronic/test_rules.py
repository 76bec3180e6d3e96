"""The programme rules as pure functions: worked examples and properties of the schedule arithmetic."""

import datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronic import rules as R
from chronic.defaults import DIABETES, HYPERTENSION

D = Decimal
MARCH = datetime.date(2026, 3, 1)


def bp(bp_systolic, bp_diastolic):
    return {"bp_systolic": D(bp_systolic), "bp_diastolic": D(bp_diastolic)}


@pytest.mark.parametrize(
    ("code", "included"),
    [("I10", True), ("I11.9", True), ("I15.0", True), ("I16", False), ("I09", False), ("E11.9", False), ("J06.9", False)],
)
def test_hypertension_inclusion_by_code_range(code, included):
    assert R.meets_inclusion(HYPERTENSION, [code]) is included


def test_diabetes_inclusion_and_measurement_inclusion():
    assert R.meets_inclusion(DIABETES, ["E11.9"])
    assert not R.meets_inclusion(DIABETES, ["E10.9"])
    rules = {**HYPERTENSION, "inclusion": {"codes": [], "measurements": [{"key": "bp_systolic", "op": ">=", "value": "140"}]}}
    assert R.meets_inclusion(rules, [], {"bp_systolic": D(150)})
    assert not R.meets_inclusion(rules, [], {"bp_systolic": D(130)})
    assert not R.meets_inclusion(rules, [], {})


@pytest.mark.parametrize(
    ("values", "control"),
    [
        (bp(132, 84), R.CONTROLLED),
        (bp(139, 89), R.CONTROLLED),
        (bp(140, 85), R.UNCONTROLLED),  # the target is < 140: 140 is not controlled
        (bp(135, 90), R.UNCONTROLLED),
        (bp(179, 100), R.UNCONTROLLED),
        (bp(180, 95), R.DANGER),
        (bp(150, 110), R.DANGER),
    ],
)
def test_blood_pressure_control(values, control):
    assert R.classify(HYPERTENSION, values) == control


def test_glucose_control():
    assert R.classify(DIABETES, {"fbg": D("6.9")}) == R.CONTROLLED
    assert R.classify(DIABETES, {"fbg": D("7.0")}) == R.UNCONTROLLED
    assert R.classify(DIABETES, {"fbg": D("16.7")}) == R.DANGER


def test_a_missing_target_measurement_is_an_error_naming_it():
    with pytest.raises(R.RuleError) as error:
        R.classify(HYPERTENSION, {"bp_systolic": D(130)})
    assert "bp_diastolic" in error.value.errors


@pytest.mark.parametrize(("bp_systolic", "level"), [(170, "high"), (160, "high"), (150, "medium"), (139, "low")])
def test_risk_level_first_match(bp_systolic, level):
    assert R.risk_level(HYPERTENSION, bp(bp_systolic, 80)) == level


def test_worked_schedule_example():
    """The module docstring's example: uncontrolled on 1 March, re-check 15 March; controlled then, 14 June."""
    assert R.next_due(HYPERTENSION, "low", R.UNCONTROLLED, MARCH) == datetime.date(2026, 3, 15)
    assert R.next_due(HYPERTENSION, "low", R.CONTROLLED, datetime.date(2026, 3, 15)) == datetime.date(2026, 6, 14)
    assert R.next_due(HYPERTENSION, "high", R.CONTROLLED, MARCH) == MARCH + datetime.timedelta(days=30)
    assert R.next_due(HYPERTENSION, "low", R.DANGER, MARCH) == MARCH + datetime.timedelta(days=7)
    assert R.after_missed(HYPERTENSION, MARCH) == MARCH + datetime.timedelta(days=7)


def test_triggers():
    assert R.trigger(HYPERTENSION, R.DANGER, []) == R.TRIGGER_DANGER
    assert R.trigger(HYPERTENSION, R.UNCONTROLLED, []) == ""
    assert R.trigger(HYPERTENSION, R.UNCONTROLLED, [R.CONTROLLED]) == ""
    assert R.trigger(HYPERTENSION, R.UNCONTROLLED, [R.UNCONTROLLED, R.CONTROLLED]) == R.TRIGGER_CONSECUTIVE
    assert R.trigger(HYPERTENSION, R.UNCONTROLLED, [R.DANGER]) == R.TRIGGER_CONSECUTIVE
    assert R.trigger(HYPERTENSION, R.CONTROLLED, [R.UNCONTROLLED]) == ""
    three = {**HYPERTENSION, "consecutive_uncontrolled": 3}
    assert R.trigger(three, R.UNCONTROLLED, [R.UNCONTROLLED]) == ""
    assert R.trigger(three, R.UNCONTROLLED, [R.UNCONTROLLED, R.UNCONTROLLED]) == R.TRIGGER_CONSECUTIVE


def test_standardised_management_pro_rata():
    enrolled = datetime.date(2025, 1, 1)
    assert R.required_follow_ups(enrolled, datetime.date(2026, 1, 1)) == 4
    assert R.required_follow_ups(enrolled, datetime.date(2025, 7, 2)) == 1  # 182 days: one full quarter of four
    assert R.required_follow_ups(enrolled, datetime.date(2030, 1, 1)) == 4
    assert R.is_standardised(4, enrolled, datetime.date(2026, 1, 1))
    assert not R.is_standardised(3, enrolled, datetime.date(2026, 1, 1))


def test_parsing_conditions_and_codes():
    assert [str(c) for c in R.parse_conditions("bp_systolic < 140，bp_diastolic<90")] == [
        "bp_systolic < 140",
        "bp_diastolic < 90",
    ]
    assert R.parse_codes("i10-i15, E11") == ["I10-I15", "E11"]
    with pytest.raises(ValueError, match="bp_systolic less 140"):
        R.parse_conditions("bp_systolic less 140")
    with pytest.raises(ValueError, match="I15-I10"):
        R.parse_codes("I15-I10")


def test_shipped_programmes_are_valid():
    assert R.validate_rules(HYPERTENSION) is HYPERTENSION
    assert R.validate_rules(DIABETES) is DIABETES


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"inclusion": {"codes": [], "measurements": []}}, "inclusion"),
        ({"targets": []}, "targets"),
        ({"targets": [{"key": "pulse", "op": "<", "value": "100"}]}, "targets"),
        ({"risk_levels": [{"code": "low", "when": [], "visits_per_year": 3}]}, "risk_levels"),
        (
            {"risk_levels": [{"code": "low", "when": [{"key": "bp_systolic", "op": ">", "value": "1"}], "visits_per_year": 4}]},
            "risk_levels",
        ),
        ({"uncontrolled_recheck_days": 0}, "uncontrolled_recheck_days"),
        ({"consecutive_uncontrolled": 9}, "consecutive_uncontrolled"),
        ({"measurements": [{"key": "nonsense"}]}, "measurements"),
    ],
)
def test_invalid_rules_name_the_field(change, field):
    with pytest.raises(R.RuleError) as error:
        R.validate_rules({**HYPERTENSION, **change})
    assert field in error.value.errors


def test_a_programme_defines_its_own_measurement_without_code():
    copd = {
        **HYPERTENSION,
        "inclusion": {"codes": ["J44"], "measurements": []},
        "measurements": [{"key": "fev1", "label": "FEV1", "unit": "L", "low": "0.2", "high": "8", "places": 2, "required": True}],
        "targets": [{"key": "fev1", "op": ">=", "value": "1.5"}],
        "danger": [{"key": "fev1", "op": "<", "value": "0.8"}],
        "risk_levels": [{"code": "low", "when": [], "visits_per_year": 4}],
    }
    assert R.validate_rules(copd)
    assert R.classify(copd, {"fev1": D("1.8")}) == R.CONTROLLED
    assert R.classify(copd, {"fev1": D("0.7")}) == R.DANGER
    assert R.meets_inclusion(copd, ["J44.1"])


# --- properties of the schedule ----------------------------------------------------------------

levels = st.integers(min_value=4, max_value=52)
controls = st.sampled_from([R.CONTROLLED, R.UNCONTROLLED, R.DANGER])
dates = st.dates(min_value=datetime.date(2000, 1, 1), max_value=datetime.date(2090, 12, 31))
rechecks = st.integers(min_value=1, max_value=91)


def _rules(visits, uncontrolled, danger):
    return {
        **HYPERTENSION,
        "risk_levels": [{"code": "only", "when": [], "visits_per_year": visits}],
        "uncontrolled_recheck_days": uncontrolled,
        "danger_recheck_days": danger,
    }


@settings(deadline=None)
@given(levels, controls, dates, rechecks, rechecks)
def test_next_due_is_after_and_within_a_quarter(visits, control, done_on, uncontrolled, danger):
    due = R.next_due(_rules(visits, uncontrolled, danger), "only", control, done_on)
    assert done_on < due <= done_on + datetime.timedelta(days=91)


@settings(deadline=None)
@given(levels, dates, rechecks, rechecks)
def test_an_uncontrolled_result_never_pushes_the_next_visit_later(visits, done_on, uncontrolled, danger):
    rules = _rules(visits, uncontrolled, danger)
    assert R.next_due(rules, "only", R.UNCONTROLLED, done_on) <= R.next_due(rules, "only", R.CONTROLLED, done_on)
    assert R.next_due(rules, "only", R.DANGER, done_on) <= R.next_due(rules, "only", R.CONTROLLED, done_on)


@settings(deadline=None)
@given(levels, dates)
def test_a_controlled_patient_on_schedule_gets_at_least_the_levels_visits_a_year(visits, start):
    rules = _rules(visits, 14, 7)
    day, count = start, 0
    while day < start + datetime.timedelta(days=365):
        count += 1
        day = R.next_due(rules, "only", R.CONTROLLED, day)
    assert count >= visits >= R.NATIONAL_MINIMUM_VISITS


@settings(deadline=None)
@given(dates, st.integers(min_value=0, max_value=2000), st.integers(min_value=0, max_value=400))
def test_required_follow_ups_grow_with_time_up_to_the_minimum(enrolled, first, extra):
    earlier = R.required_follow_ups(enrolled, enrolled + datetime.timedelta(days=first))
    later = R.required_follow_ups(enrolled, enrolled + datetime.timedelta(days=first + extra))
    assert 0 <= earlier <= later <= R.NATIONAL_MINIMUM_VISITS
