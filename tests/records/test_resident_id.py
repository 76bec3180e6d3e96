"""Resident ID validation, property-based: every built number parses back; every single-character change is caught."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from records import resident_id

REGIONS = ["420525", "420502", "110105", "360722", "440305"]
birth_dates = st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2024, 12, 31))


@settings(max_examples=200, deadline=None)
@given(region=st.sampled_from(REGIONS), birth=birth_dates, sequence=st.integers(0, 99), sex=st.sampled_from(["M", "F"]))
def test_built_numbers_parse_back(region, birth, sequence, sex):
    number = resident_id.build(region, birth, sequence, sex)
    parsed = resident_id.parse(number)
    assert (parsed.region_code, parsed.birth_date, parsed.sex) == (region, birth, sex)
    assert parsed.masked.startswith(region) and parsed.masked.endswith(number[-4:]) and "*" in parsed.masked


@settings(max_examples=200, deadline=None)
@given(
    region=st.sampled_from(REGIONS),
    birth=birth_dates,
    sequence=st.integers(0, 99),
    position=st.integers(0, 16),
    delta=st.integers(1, 9),
)
def test_any_single_digit_change_is_rejected(region, birth, sequence, position, delta):
    number = resident_id.build(region, birth, sequence, "M")
    digit = (int(number[position]) + delta) % 10
    changed = number[:position] + str(digit) + number[position + 1 :]
    with pytest.raises(ValidationError):
        resident_id.parse(changed)


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=30))
def test_arbitrary_text_never_crashes(text):
    try:
        resident_id.parse(text)
    except ValidationError as error:
        assert error.messages


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("4205251968", "length"),
        ("42052519680517A23X", "format"),
        ("420525196805171230", "checksum"),
        ("999999196805171234", None),
    ],
)
def test_known_bad_numbers(value, code):
    with pytest.raises(ValidationError) as info:
        resident_id.parse(value)
    if code:
        assert info.value.code == code


def test_lower_case_x_and_spaces_are_normalised():
    number = resident_id.build("110105", datetime.date(1949, 12, 31), 0, "F")
    spaced = " ".join([number[:6], number[6:14], number[14:].lower()])
    assert resident_id.parse(spaced).number == number
