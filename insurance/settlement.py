"""Settlement files: parse (CSV in UTF-8 or GB18030, or XLSX), validate every line, stage set-based.

Columns (header row first, any order; English names or the Chinese aliases in brackets):

==================  ==============  =====================================================
claim_number        (结算单号)       the platform's claim number, required
institution_code    (机构编码)       the institution's code, required, inside the office's region
paid_amount         (支付金额)       yuan with at most two decimals, e.g. 1234.50 (may be negative for a reversal)
payment_status      (支付状态)       ``paid`` / ``rejected`` (or 已支付 / 拒付), required
reason_code         (原因代码)       optional, up to 32 characters
payment_reference   (支付流水号)     the payment trace number, optional column, up to 64 characters
payment_date        (支付日期)       optional column: the date the money was paid, ``YYYY-MM-DD``
reverses_reference  (原支付流水号)   optional column: on a reversal line, the trace number it reverses
==================  ==============  =====================================================

Payment detail: ``payment_date`` and ``reverses_reference`` are optional columns, so files written
before they existed still parse as they did. A file that has the ``payment_date`` column is a
remittance file with payment detail: every paid line in it needs its payment date and trace number.
In a file that has the ``reverses_reference`` column, a line with a negative amount is a reversal:
it must name the trace number of a paid line of the same claim (in this file or an earlier file of
the office) and may not take back more than that payment; only a reversal line may name one.

Control total and line count: the upload may declare ``control_total`` (the sum of every line's
amount) and ``control_count`` (the number of lines); a file that does not add up to them is
refused whole (``control_total_mismatch`` / ``control_count_mismatch``), nothing stored.

Any bad line refuses the whole file: the answer lists each problem with its row (the record
number as a spreadsheet shows it, the header is row 1, a quoted field over several lines is still
one row), field and reason. The same verdict on SQLite and PostgreSQL, decided here before any
database sees a value:

* amounts: ASCII digits only, an optional leading ``-``, at most two decimals, either no grouping
  (``1234.50``) or commas every three digits (``1,234.50``); no exponent, no full-width or other
  digits, in CSV text and XLSX number cells alike (an XLSX ``12.345`` is refused, not rounded);
* no field may hold a NUL or another control character;
* XLSX rows may leave trailing optional cells empty; the data must be on the first sheet (a
  header on another sheet is named), and a CSV must use commas (a ``;``, tab or ``|`` header is named).

Lines are validated before any database write and spooled to a local temporary file in chunks, so
a million-line file never sits in memory and never holds the database's write lock while it is
read; then they go to PostgreSQL with COPY, or to SQLite with bulk inserts, in one short transaction.
"""

import codecs
import csv
import datetime
import hashlib
import io
import pickle
import re
import tempfile
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models import Sum
from django.utils.translation import gettext as _

from consortium.errors import Unprocessable
from consortium.uploads import ZipRefused, check_zip_archive

from .models import FileFormat, SettlementFile, SettlementLine

COLUMNS = [
    "claim_number",
    "institution_code",
    "paid_amount",
    "payment_status",
    "reason_code",
    "payment_reference",
    "payment_date",
    "reverses_reference",
]
REQUIRED = ["claim_number", "institution_code", "paid_amount", "payment_status"]
ALIASES = {
    "结算单号": "claim_number",
    "机构编码": "institution_code",
    "支付金额": "paid_amount",
    "支付状态": "payment_status",
    "原因代码": "reason_code",
    "支付流水号": "payment_reference",
    "支付日期": "payment_date",
    "原支付流水号": "reverses_reference",
}
STATUS_ALIASES = {"paid": "paid", "rejected": "rejected", "已支付": "paid", "拒付": "rejected"}
ENCODINGS = {"utf-8": "utf-8-sig", "gb18030": "gb18030"}
AMOUNT_RE = re.compile(r"-?(?:[0-9]{1,12}|[0-9]{1,3}(?:,[0-9]{3}){1,3})(?:\.[0-9]{1,2})?", re.ASCII)
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\t\n\r]")
OTHER_DELIMITERS = {";": "';'", "\t": "tab", "|": "'|'"}
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
MAX_ERRORS = 200
CHUNK_ROWS = 20000


class SettlementFileErrors(Unprocessable):
    """The file was refused; built from {row, field, reason} (row 0: the file as a whole).

    The problem body lists each as ``{"row", "field", "code", "message"}`` and says in
    ``more_errors`` how many further problems were not listed.
    """

    code = "settlement_file_refused"

    def __init__(self, errors: list[dict], more: int = 0):
        super().__init__(
            _("The settlement file was refused; nothing was stored."),
            errors=[
                {"row": e["row"] or None, "field": e["field"], "message": e["reason"], "code": e.get("code", self.code)}
                for e in errors
            ],
            extra={"more_errors": more},
        )
        self.more = more


def max_bytes() -> int:
    return getattr(settings, "INSURANCE_SETTLEMENT_MAX_BYTES", 256 * 1024 * 1024)


class _CappedErrors(list):
    """Keeps the first MAX_ERRORS problems and counts the rest, so a bad million-line file stays small."""

    total = 0

    def append(self, item):
        self.total += 1
        if len(self) < MAX_ERRORS:
            super().append(item)

    def extend(self, items):
        for item in items:
            self.append(item)

    def __bool__(self):
        return self.total > 0


class _HashingReader(io.RawIOBase):
    """Reads an upload in binary while hashing it."""

    def __init__(self, raw):
        self.raw = raw
        self.sha256 = hashlib.sha256()

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.raw.read(len(buffer))
        if not data:
            return 0
        self.sha256.update(data)
        buffer[: len(data)] = data
        return len(data)


def _size_of(upload) -> int:
    size = getattr(upload, "size", None)
    if size is None:
        position = upload.tell()
        upload.seek(0, io.SEEK_END)
        size = upload.tell()
        upload.seek(position)
    return size


def _decoded_lines(reader: _HashingReader, encoding: str) -> Iterator[str]:
    """Decode line by line so that a bad byte is reported with its line (0x0A never occurs inside a
    UTF-8 or GB18030 multi-byte character, so splitting bytes on newlines is safe)."""
    decoder = codecs.getincrementaldecoder(ENCODINGS[encoding])(errors="strict")
    for number, raw in enumerate(io.BufferedReader(reader, 1 << 20), start=1):
        try:
            yield decoder.decode(raw)
        except UnicodeDecodeError:
            raise SettlementFileErrors(
                [
                    {
                        "row": number,
                        "field": "file",
                        "reason": _("This line is not valid %(encoding)s text.") % {"encoding": encoding.upper()},
                    }
                ]
            ) from None


def _csv_rows(reader: _HashingReader, encoding: str) -> Iterator[tuple[int, list[str]]]:
    """(record number, cells): records, not physical lines, are counted."""
    rows = csv.reader(_decoded_lines(reader, encoding), strict=True)
    number = 0
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            reason = _("This record is not valid CSV (%(error)s).") % {"error": exc}
            raise SettlementFileErrors([{"row": number + 1, "field": "file", "reason": reason}]) from None
        number += 1
        yield number, row


def _xlsx_cell(value) -> str:
    """A cell as the text a CSV would hold: numbers exactly as stored (never rounded here)."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.date().isoformat() if value.time() == datetime.time() else value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        return format(Decimal(repr(value)).normalize(), "f") if value != int(value) else str(int(value))
    if isinstance(value, int):
        return str(value)
    return str(value).strip()


def _xlsx_rows(reader: _HashingReader, file_name: str) -> Iterator[tuple[int, list[str]]]:
    """The first sheet's rows, streamed (openpyxl's read-only mode) from the upload itself, after the
    archive's directory passed :func:`consortium.uploads.check_zip_archive` (no zip bomb is opened)."""
    from openpyxl import load_workbook

    while reader.read(1024 * 1024):  # hash the upload as it is, without holding it in memory
        pass
    data = reader.raw
    try:
        check_zip_archive(data, name=file_name)
    except ZipRefused as refused:
        raise SettlementFileErrors([{"row": 0, "field": "file", "reason": str(refused), "code": "zip_refused"}]) from None
    try:
        workbook = load_workbook(data, read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - openpyxl raises many kinds for a broken workbook
        raise SettlementFileErrors([{"row": 0, "field": "file", "reason": _("This is not a readable XLSX workbook.")}]) from None
    sheet = workbook.worksheets[0]
    first = True
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        cells = [_xlsx_cell(v) for v in values]
        while cells and cells[-1] == "":
            cells.pop()
        if first:
            first = False
            if not _has_required(cells):
                _refuse_other_sheet(workbook)
        yield number, cells
    workbook.close()


def _has_required(cells: list[str]) -> bool:
    names = {ALIASES.get(c.strip(), c.strip().lstrip("\ufeff").lower()) for c in cells}
    return all(column in names for column in REQUIRED)


def _refuse_other_sheet(workbook) -> None:
    """The header is not on the first sheet: name the sheet where it is, if any."""
    for other in workbook.worksheets[1:]:
        for values in other.iter_rows(values_only=True, max_row=1):
            if _has_required([_xlsx_cell(v) for v in values]):
                reason = _("The data is on the sheet %(sheet)s; put it on the first sheet (%(first)s).") % {
                    "sheet": other.title,
                    "first": workbook.worksheets[0].title,
                }
                raise SettlementFileErrors([{"row": 1, "field": "file", "reason": reason, "code": "wrong_sheet"}])


def _header(row: list[str]) -> tuple[list[str | None], list[dict]]:
    if len(row) == 1:
        for delimiter, label in OTHER_DELIMITERS.items():
            if delimiter in row[0]:
                reason = _("The columns are separated by %(delimiter)s; a settlement CSV separates them by commas.") % {
                    "delimiter": label
                }
                return [], [{"row": 1, "field": "file", "reason": reason, "code": "wrong_delimiter"}]
    names = []
    for cell in row:
        name = cell.strip().lstrip("\ufeff").lower()
        names.append(ALIASES.get(cell.strip(), name if name in COLUMNS else None))
    errors = [
        {
            "row": 1,
            "field": column,
            "reason": _("The column %(column)s is missing.") % {"column": column},
            "code": "missing_column",
        }
        for column in REQUIRED
        if column not in names
    ]
    return names, errors


def _validate(number: int, values: dict, institutions: set[str], errors: list) -> tuple | None:
    problems = [
        (name, _("Control characters (such as NUL or a line break) are not allowed in a field."))
        for name, value in values.items()
        if CONTROL_RE.search(value.strip(" "))
    ]
    if problems:
        errors.extend(
            {"row": number, "field": field, "reason": reason, "code": "control_character"} for field, reason in problems
        )
        return None
    claim_number = values.get("claim_number", "").strip()
    institution_code = values.get("institution_code", "").strip()
    amount = values.get("paid_amount", "").strip()
    status = STATUS_ALIASES.get(values.get("payment_status", "").strip().lower())
    reason_code = values.get("reason_code", "").strip()
    reference = values.get("payment_reference", "").strip()
    payment_date = values.get("payment_date", "").strip()
    reverses = values.get("reverses_reference", "").strip()
    with_detail = "payment_date" in values
    if not CODE_RE.match(claim_number):
        problems.append(("claim_number", _("A claim number is required (letters, digits, '-', '_' or '.', up to 64).")))
    if institution_code not in institutions:
        problems.append(("institution_code", _("Not an institution in this office's region.")))
    if AMOUNT_RE.fullmatch(amount):
        amount = amount.replace(",", "")
    else:
        problems.append(
            ("paid_amount", _("Not an amount in yuan: ASCII digits, at most two decimals, commas only every three digits."))
        )
    if status is None:
        problems.append(("payment_status", _("The payment status must be paid or rejected.")))
    if len(reason_code) > 32:
        problems.append(("reason_code", _("At most 32 characters.")))
    if len(reference) > 64:
        problems.append(("payment_reference", _("At most 64 characters.")))
    if len(reverses) > 64:
        problems.append(("reverses_reference", _("At most 64 characters.")))
    paid_line = status == "paid"
    if payment_date:
        payment_date = _date_or_none(payment_date)
        if payment_date is None:
            problems.append(("payment_date", _("Not a date: write it YYYY-MM-DD (ASCII digits), e.g. 2026-03-31.")))
    elif with_detail and paid_line:
        problems.append(("payment_date", _("A paid line of a file with payment dates needs its payment date.")))
    if with_detail and paid_line and not reference:
        problems.append(("payment_reference", _("A paid line of a file with payment dates needs its trace number.")))
    negative = amount.startswith("-") and amount.strip("-0.,") != ""
    if negative and "reverses_reference" in values and not reverses and not any(f == "paid_amount" for f, _r in problems):
        problems.append(
            ("reverses_reference", _("A negative amount is a reversal: name the trace number of the payment it reverses."))
        )
    if reverses and not negative:
        problems.append(("reverses_reference", _("Only a reversal line (a negative amount) names a payment it reverses.")))
    if problems:
        errors.extend({"row": number, "field": field, "reason": reason, "code": "invalid"} for field, reason in problems)
        return None
    return (number, claim_number, institution_code, amount, status, reason_code, reference, payment_date or None, reverses)


def _date_or_none(text: str) -> datetime.date | None:
    if not DATE_RE.fullmatch(text):
        return None
    try:
        value = datetime.date.fromisoformat(text)
    except ValueError:
        return None
    return value if 2000 <= value.year <= 2100 else None


def _parsed_lines(
    rows: Iterator[tuple[int, list[str]]], institutions: set[str], errors: list, *, pad_short: bool = False
) -> Iterator[tuple]:
    """Valid lines as tuples; problems are appended to ``errors`` (counting past the cap).

    ``pad_short`` (XLSX): a row that ends before the last columns has them empty.
    """
    try:
        first = next(rows)
    except StopIteration:
        errors.append({"row": 1, "field": "file", "reason": _("The file is empty.")})
        return
    names, header_errors = _header(first[1])
    if header_errors:
        errors.extend(header_errors)
        return
    width = len(names)
    seen_any = False
    for number, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        seen_any = True
        if pad_short and len(row) < width:
            row = row + [""] * (width - len(row))
        if len(row) != width:
            errors.append(
                {
                    "row": number,
                    "field": "row",
                    "code": "column_count",
                    "reason": _("Expected %(expected)s columns, found %(found)s.") % {"expected": width, "found": len(row)},
                }
            )
            continue
        values = {name: cell for name, cell in zip(names, row, strict=True) if name}
        line = _validate(number, values, institutions, errors)
        if line is not None and not errors:
            yield line
    if not seen_any:
        errors.append({"row": 2, "field": "file", "reason": _("The file has a header but no lines.")})


#: The settlement line columns each parsed line tuple holds, in order (after the file id).
LINE_FIELDS = (
    "row_number",
    "claim_number",
    "institution_code",
    "paid_amount",
    "payment_status",
    "reason_code",
    "payment_reference",
    "payment_date",
    "reverses_reference",
)


def _copy_lines(file_id: int, lines: Iterator[tuple]) -> int:
    """COPY lines into the settlement line table on PostgreSQL; returns how many."""
    count = 0
    table = SettlementLine._meta.db_table
    columns = ", ".join(("file_id", *LINE_FIELDS))
    with connection.cursor() as cursor:
        with cursor.cursor.copy(
            f"COPY {table} ({columns}) FROM STDIN WITH "
            "(FORMAT csv, FORCE_NOT_NULL (reason_code, payment_reference, reverses_reference))"
        ) as copy:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            prefix = (file_id,)
            for line in lines:
                writer.writerow(prefix + line)
                count += 1
                if count % CHUNK_ROWS == 0:
                    copy.write(buffer.getvalue())
                    buffer.seek(0)
                    buffer.truncate()
            copy.write(buffer.getvalue())
    return count


def _column_adapter(field):
    """How a parsed value becomes a database parameter (the field's own preparation, kept cheap)."""
    db = connections[DEFAULT_DB_ALIAS]  # bound once: the ``connection`` proxy is a lookup per use
    ops = db.ops
    if isinstance(field, models.DecimalField):
        return lambda value: ops.adapt_decimalfield_value(value, field.max_digits, field.decimal_places)
    if isinstance(field, models.CharField | models.IntegerField):
        return None  # str and int go to the driver as they are
    return lambda value: field.get_db_prep_save(value, db)


def _insert_lines(file_id: int, lines: Iterator[tuple]) -> int:
    """Insert in chunks with the driver's executemany where COPY is not available (SQLite).

    A model instance per line (bulk_create) made a 100,000-line file take half a minute inside the
    transaction, holding SQLite's write lock all that time; plain parameter tuples take seconds.
    """
    table = connection.ops.quote_name(SettlementLine._meta.db_table)
    fields = [SettlementLine._meta.get_field(name) for name in LINE_FIELDS]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in [SettlementLine._meta.get_field("file"), *fields])
    placeholders = ", ".join(["%s"] * (len(fields) + 1))
    sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608 - names from the model, values bound
    adapters = [(index, adapter) for index, f in enumerate(fields) if (adapter := _column_adapter(f)) is not None]
    count = 0
    chunk = []
    with connection.cursor() as cursor:
        for line in lines:
            row = [file_id, *line]
            for index, adapter in adapters:
                if row[index + 1] is not None:
                    row[index + 1] = adapter(row[index + 1])
            chunk.append(row)
            if len(chunk) >= CHUNK_ROWS:
                cursor.executemany(sql, chunk)
                count += len(chunk)
                chunk = []
        if chunk:
            cursor.executemany(sql, chunk)
            count += len(chunk)
    return count


def detect_format(file_name: str, head: bytes) -> str:
    if head.startswith(b"PK\x03\x04") or file_name.lower().endswith(".xlsx"):
        return FileFormat.XLSX
    return FileFormat.CSV


def _check_reversals(settlement: SettlementFile) -> list[dict]:
    """Each reversal line names a paid line of the same claim and office (this file or an earlier one)
    and takes back no more than it paid."""
    reversals = list(
        SettlementLine.objects.filter(file=settlement)
        .exclude(reverses_reference="")
        .values("row_number", "claim_number", "paid_amount", "reverses_reference")
        .order_by("row_number")
    )
    if not reversals:
        return []
    originals = {}
    paid = SettlementLine.objects.filter(
        file__office_id=settlement.office_id,
        payment_status="paid",
        paid_amount__gt=0,
        payment_reference__in={r["reverses_reference"] for r in reversals},
    ).values_list("payment_reference", "claim_number", "paid_amount")
    for reference, claim_number, amount in paid:
        originals.setdefault((reference, claim_number), amount)
    errors = []
    taken: dict[tuple[str, str], Decimal] = {}
    for line in reversals:
        key = (line["reverses_reference"], line["claim_number"])
        original = originals.get(key)
        if original is None:
            reason = _("No payment with the trace number %(reference)s for this claim was found in this office's files.") % {
                "reference": line["reverses_reference"]
            }
            errors.append({"row": line["row_number"], "field": "reverses_reference", "reason": reason, "code": "unknown_payment"})
            continue
        taken[key] = taken.get(key, Decimal(0)) - Decimal(line["paid_amount"])
        if taken[key] > Decimal(original):
            reason = _("The reversals of the payment %(reference)s take back more than its %(amount)s.") % {
                "reference": line["reverses_reference"],
                "amount": original,
            }
            errors.append(
                {"row": line["row_number"], "field": "paid_amount", "reason": reason, "code": "reversal_exceeds_payment"}
            )
    return errors


def _check_controls(settlement: SettlementFile, control_total: Decimal | None, control_count: int | None) -> list[dict]:
    errors = []
    if control_count is not None and control_count != settlement.line_count:
        reason = _("The file has %(found)s lines; the control line count says %(declared)s.") % {
            "found": settlement.line_count,
            "declared": control_count,
        }
        errors.append({"row": 0, "field": "control_count", "reason": reason, "code": "control_count_mismatch"})
    if control_total is not None:
        found = settlement.lines.aggregate(total=Sum("paid_amount"))["total"] or Decimal(0)
        found = Decimal(found).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)  # SQLite sums as floats
        if found != control_total:
            reason = _("The lines add up to %(found)s; the control total says %(declared)s.") % {
                "found": found,
                "declared": control_total,
            }
            errors.append({"row": 0, "field": "control_total", "reason": reason, "code": "control_total_mismatch"})
    return errors


class ParsedFile:
    """A settlement file validated line by line, its lines spooled to a local temporary file.

    Made by :func:`parse_settlement_file` outside any database transaction, so that decoding and
    validating a large file never holds the database's write lock (on SQLite that lock is the whole
    database: readers of other API clients that write a row, such as an access log, would wait for
    it). :func:`stage_settlement_file` then writes the lines in one short transaction.
    """

    def __init__(self, *, file_format: str, encoding: str):
        self.file_format = file_format
        self.encoding = encoding
        self.sha256 = ""
        self.line_count = 0
        self._spool = tempfile.TemporaryFile()

    def spool(self, lines: Iterator[tuple]) -> None:
        chunk = []
        for line in lines:
            chunk.append(line)
            if len(chunk) >= CHUNK_ROWS:
                pickle.dump(chunk, self._spool, protocol=pickle.HIGHEST_PROTOCOL)
                self.line_count += len(chunk)
                chunk = []
        if chunk:
            pickle.dump(chunk, self._spool, protocol=pickle.HIGHEST_PROTOCOL)
            self.line_count += len(chunk)

    def lines(self) -> Iterator[tuple]:
        self._spool.seek(0)
        while True:
            try:
                yield from pickle.load(self._spool)  # noqa: S301 - our own temporary file, written above
            except EOFError:
                return

    def close(self) -> None:
        self._spool.close()


def parse_settlement_file(*, office, upload, file_name: str, encoding: str) -> ParsedFile:
    """Decode and validate every line, writing nothing to the database; raises SettlementFileErrors."""
    encoding = (encoding or "utf-8").lower()
    if encoding not in ENCODINGS:
        raise SettlementFileErrors([{"row": 0, "field": "encoding", "reason": _("Use utf-8 or gb18030.")}])
    size = _size_of(upload)
    if size == 0:
        raise SettlementFileErrors([{"row": 1, "field": "file", "reason": _("The file is empty.")}])
    if size > max_bytes():
        raise SettlementFileErrors(
            [{"row": 0, "field": "file", "reason": _("The file is larger than %(limit)s bytes.") % {"limit": max_bytes()}}]
        )
    upload.seek(0)
    head = upload.read(4)
    upload.seek(0)
    file_format = detect_format(file_name, head)
    institutions = {code for _pk, code in office.covered_institutions()}
    parsed = ParsedFile(file_format=file_format, encoding=encoding if file_format == FileFormat.CSV else "")
    try:
        reader = _HashingReader(upload)
        rows = _xlsx_rows(reader, file_name) if file_format == FileFormat.XLSX else _csv_rows(reader, encoding)
        errors = _CappedErrors()
        parsed.spool(_parsed_lines(rows, institutions, errors, pad_short=file_format == FileFormat.XLSX))
        if errors:
            raise SettlementFileErrors(list(errors), more=errors.total - len(errors))
        parsed.sha256 = reader.sha256.hexdigest()
    except BaseException:
        parsed.close()
        raise
    return parsed


def stage_settlement_file(
    *,
    office,
    period: str,
    upload,
    file_name: str,
    encoding: str,
    api_client=None,
    control_total: Decimal | None = None,
    control_count: int | None = None,
    parsed: ParsedFile | None = None,
) -> SettlementFile:
    """Store a parsed file and its lines; must run inside a transaction so that a refused file leaves nothing.

    Pass ``parsed`` (from :func:`parse_settlement_file`, called before the transaction) to keep the
    transaction to the writes; without it the file is parsed here.
    """
    if parsed is None:
        parsed = parse_settlement_file(office=office, upload=upload, file_name=file_name, encoding=encoding)
    settlement = SettlementFile.objects.create(
        office=office,
        period=period,
        file_name=file_name[:200],
        file_format=parsed.file_format,
        encoding=parsed.encoding,
        sha256="",
        uploaded_by_client=api_client,
        control_total=control_total,
        control_count=control_count,
    )
    write = _copy_lines if connection.vendor == "postgresql" else _insert_lines
    settlement.line_count = write(settlement.pk, parsed.lines())
    late = _check_reversals(settlement) + _check_controls(settlement, control_total, control_count)
    if late:
        raise SettlementFileErrors(late)
    settlement.sha256 = parsed.sha256
    upload.seek(0)
    settlement.original.save(file_name, upload, save=False)  # streamed to the storage, read again from the start
    settlement.save(update_fields=["line_count", "sha256", "original"])
    return settlement
