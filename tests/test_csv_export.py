"""CSV injection: no cell the platform writes can run as a spreadsheet formula."""

import csv
import io
from decimal import Decimal

import pytest

from consortium.csv_export import safe_cell, writer


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_prefixes_are_neutralised(prefix):
    assert safe_cell(prefix + 'HYPERLINK("http://x")') == "'" + prefix + 'HYPERLINK("http://x")'


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (None, ""),
        (Decimal("-12.30"), "-12.30"),
        ("-12.30", "-12.30"),
        (-3, "-3"),
        ("-1e-05", "-1e-05"),
        ("正常", "正常"),
        ("a=b", "a=b"),
        ("-", "'-"),
        ("-12.30=1", "'-12.30=1"),
    ],
)
def test_numbers_and_plain_text_are_written_as_they_are(value, written):
    assert safe_cell(value) == written


def test_the_writer_neutralises_every_cell():
    buffer = io.StringIO()
    writer(buffer).writerow(["=1+1", Decimal("-5.00"), "@SUM(A1)", "ok"])
    assert next(csv.reader(io.StringIO(buffer.getvalue()))) == ["'=1+1", "-5.00", "'@SUM(A1)", "ok"]
