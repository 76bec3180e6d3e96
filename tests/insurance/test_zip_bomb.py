"""A settlement XLSX that is a zip bomb is refused, naming the file, before anything parses it, and the
refusal costs a few megabytes, not the gigabytes the workbook would unpack to."""

import io
import tracemalloc
import zipfile

import pytest
from django.utils import translation
from openpyxl import Workbook

from insurance.models import SettlementFile, SettlementLine
from insurance.settlement import SettlementFileErrors
from tests.insurance.test_reconciliation import HEADER, upload

pytestmark = pytest.mark.django_db

SHEET = "xl/worksheets/sheet1.xml"
ROW = b'<row><c t="inlineStr"><is><t>TOWN-000001-1</t></is></c><c t="inlineStr"><is><t>TOWN</t></is></c></row>'


def workbook_bytes() -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER.strip().split(","))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def bomb(unpacked_bytes: int) -> bytes:
    """A real workbook whose first sheet is replaced by ``unpacked_bytes`` of identical rows (streamed:
    the test never holds the unpacked sheet in memory either)."""
    source = zipfile.ZipFile(io.BytesIO(workbook_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for member in source.infolist():
            if member.filename != SHEET:
                archive.writestr(member, source.read(member))
        with archive.open(SHEET, "w", force_zip64=True) as sheet:
            sheet.write(b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
            chunk = ROW * (1024 * 1024 // len(ROW))
            for _ in range(unpacked_bytes // len(chunk)):
                sheet.write(chunk)
            sheet.write(b"</sheetData></worksheet>")
    return out.getvalue()


def refused_with_memory(office, raw: bytes) -> tuple[list[dict], int]:
    tracemalloc.start()
    try:
        with translation.override("en"), pytest.raises(SettlementFileErrors) as excinfo:
            upload(office, "", name="三月结算.xlsx", raw=raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not SettlementFile.objects.exists() and not SettlementLine.objects.exists()
    return excinfo.value.errors, peak


def test_a_workbook_unpacking_to_half_a_gigabyte_is_refused_in_bounded_memory(chain):
    raw = bomb(512 * 1024 * 1024)  # half a gigabyte of sheet XML
    assert len(raw) < 3 * 1024 * 1024
    errors, peak = refused_with_memory(chain["office"], raw)
    assert [(e["row"], e["field"], e["code"]) for e in errors] == [(None, "file", "zip_refused")]
    assert "三月结算.xlsx" in errors[0]["message"] and "512.0" in errors[0]["message"]
    assert peak < 2 * len(raw) + 8 * 1024 * 1024, f"peak {peak} bytes"


def test_a_small_but_extremely_compressed_workbook_is_refused(chain):
    raw = bomb(50 * 1024 * 1024)  # under the size limit, but a thousand to one
    errors, peak = refused_with_memory(chain["office"], raw)
    assert errors[0]["code"] == "zip_refused" and "zip bomb" in errors[0]["message"] and SHEET in errors[0]["message"]
    assert "三月结算.xlsx" in errors[0]["message"]
    assert peak < 2 * len(raw) + 8 * 1024 * 1024


def test_limits_come_from_the_settings(chain, settings):
    settings.ZIP_UPLOAD_MAX_RATIO = 100000
    settings.ZIP_UPLOAD_MAX_BYTES = 10 * 1024 * 1024
    errors, _ = refused_with_memory(chain["office"], bomb(20 * 1024 * 1024))
    assert "unpacks to" in errors[0]["message"]
