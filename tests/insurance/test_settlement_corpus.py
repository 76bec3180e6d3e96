"""A corpus of real-world settlement-file oddities, each with its verdict, the same on SQLite and PostgreSQL.

Run under ``DATABASE_URL=postgres://...`` too (CI does): on PostgreSQL the lines go through COPY,
which refused NUL bytes and non-ASCII digits with a 500 before the parser checked them itself.
"""

import io
from decimal import Decimal as D

import pytest
from openpyxl import Workbook

from consortium.permissions import SYSTEM
from insurance import services
from insurance.models import SettlementFile, SettlementLine
from insurance.settlement import SettlementFileErrors

from .test_reconciliation import HEADER

pytestmark = pytest.mark.django_db

ACCEPTED_AMOUNTS = {
    "12.30": D("12.30"),
    "-12.30": D("-12.30"),
    "0": D("0"),
    "1,234.50": D("1234.50"),
    "1,234,567.00": D("1234567.00"),
    "1234567.8": D("1234567.80"),
}
REFUSED_AMOUNTS = [
    "１２.３０",  # full-width digits
    "١٢.٣٠",  # Arabic-Indic digits
    "1,23.06",  # a comma that is not a thousands separator
    "12,34",
    "1,2345.00",
    ",123.00",
    "1e0",
    "1E2",
    "12.345",
    "12.",
    ".5",
    "+12.30",
    "--1",
    "12 30",
    "NaN",
    "Infinity",
    "1234567890123",  # more than 12 integer digits
]


def _upload(office, data: bytes, name="s.csv"):
    return services.store_settlement_file(
        office=office, period="2026-03", upload=io.BytesIO(data), file_name=name, encoding="utf-8", actor=SYSTEM
    )


def _refused(office, data: bytes, name="s.csv") -> list[dict]:
    with pytest.raises(SettlementFileErrors) as excinfo:
        _upload(office, data, name)
    assert not SettlementFile.objects.exists() and not SettlementLine.objects.exists()
    return excinfo.value.errors


def _xlsx(rows: list[list], *, sheets: dict | None = None) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "结算"
    for row in rows:
        sheet.append(row)
    for title, other_rows in (sheets or {}).items():
        other = workbook.create_sheet(title)
        for row in other_rows:
            other.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


COLUMNS = HEADER.strip().split(",")


@pytest.mark.parametrize(("text", "amount"), list(ACCEPTED_AMOUNTS.items()))
def test_accepted_amounts_in_csv(chain, adjudicated, text, amount):
    line = f'{adjudicated[0].number},TOWN,"{text}",paid,,P1\n'
    settlement = _upload(chain["office"], (HEADER + line).encode())
    assert settlement.lines.get().paid_amount == amount


@pytest.mark.parametrize("text", REFUSED_AMOUNTS)
def test_refused_amounts_in_csv_name_row_and_column(chain, adjudicated, text):
    line = f'{adjudicated[0].number},TOWN,"{text}",paid,,P1\n'
    errors = _refused(chain["office"], (HEADER + line).encode())
    assert [(e["row"], e["field"], e["code"]) for e in errors] == [(2, "paid_amount", "invalid")]


@pytest.mark.parametrize("field", ["claim_number", "payment_reference", "reason_code", "institution_code"])
@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\t", "\x7f"])
def test_control_characters_are_refused_in_any_field(chain, adjudicated, field, char):
    values = {"claim_number": adjudicated[0].number, "institution_code": "TOWN", "reason_code": "", "payment_reference": "P1"}
    values[field] = values[field][:2] + char + values[field][2:] if values[field] else "A" + char
    line = ",".join(
        f'"{values.get(c, "")}"' if c in values else {"paid_amount": "12.30", "payment_status": "paid"}[c] for c in COLUMNS
    )
    errors = _refused(chain["office"], (HEADER + line + "\n").encode())
    assert [(e["row"], e["field"], e["code"]) for e in errors] == [(2, field, "control_character")]


def test_record_numbers_count_records_not_lines(chain, adjudicated):
    text = (
        HEADER + f'{adjudicated[0].number},TOWN,340.00,paid,,"P1\nsecond line"\n' + f"{adjudicated[1].number},TOWN,abc,paid,,P2\n"
    )
    errors = _refused(chain["office"], text.encode())
    # The quoted line break is refused where it is (row 2); the bad amount is on record 3, physical line 4.
    assert [(e["row"], e["field"]) for e in errors] == [(2, "payment_reference"), (3, "paid_amount")]


@pytest.mark.parametrize(("delimiter", "named"), [(";", "';'"), ("\t", "tab"), ("|", "'|'")])
def test_another_delimiter_is_named(chain, adjudicated, delimiter, named):
    text = delimiter.join(COLUMNS) + "\n" + delimiter.join([adjudicated[0].number, "TOWN", "1.00", "paid", "", ""]) + "\n"
    errors = _refused(chain["office"], text.encode())
    assert [(e["row"], e["field"], e["code"]) for e in errors] == [(1, "file", "wrong_delimiter")]
    assert named in errors[0]["message"]


def test_xlsx_trailing_blank_optional_cells_are_accepted(chain, adjudicated):
    data = _xlsx([COLUMNS, [adjudicated[0].number, "TOWN", 340, "paid"], [adjudicated[1].number, "TOWN", 12.5, "paid", "R1"]])
    settlement = _upload(chain["office"], data, "s.xlsx")
    assert sorted(settlement.lines.values_list("paid_amount", flat=True)) == [D("12.50"), D("340.00")]


@pytest.mark.parametrize("value", [12.345, 1e-05, 1.0e15, "１２.３０", "1e0", "1,23.06"])
def test_xlsx_amounts_get_the_csv_verdict_never_rounded(chain, adjudicated, value):
    data = _xlsx([COLUMNS, [adjudicated[0].number, "TOWN", value, "paid", "", "P1"]])
    errors = _refused(chain["office"], data, "s.xlsx")
    assert [(e["row"], e["field"]) for e in errors] == [(2, "paid_amount")]


def test_data_on_another_sheet_is_named(chain, adjudicated):
    data = _xlsx([["说明"], ["见第二页"]], sheets={"明细": [COLUMNS, [adjudicated[0].number, "TOWN", 1, "paid"]]})
    errors = _refused(chain["office"], data, "s.xlsx")
    assert [(e["row"], e["field"], e["code"]) for e in errors] == [(1, "file", "wrong_sheet")]
    assert "明细" in errors[0]["message"]
