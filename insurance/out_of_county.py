"""Landing the insurer's settlement data of county residents' visits outside the county.

An office uploads a CSV (UTF-8, with or without BOM) with the header
``settlement_number,insurance_number,scheme,institution_name,institution_region,level,kind,visit_date,total,fund_paid``.
Every line is checked first; any bad line refuses the whole file with the record number and field named
(amounts and control characters by the settlement files' rules: ASCII digits, at most two decimals,
no exponent, no NUL or other control character).
Good files land set-based (one ``bulk_create`` with ``ignore_conflicts`` on the office's settlement
number), so the same file twice — or an overlapping later file — changes nothing it already has.
Residents are linked by insurance number to the MPI for the indicators; no clinical record is made.
"""

import csv
import datetime
import hashlib
import io
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from consortium.errors import Invalid, NotPermitted, TooLarge
from consortium.models import InstitutionLevel
from consortium.permissions import SYSTEM
from consortium.services import record_audit_event
from records.models import Patient

from .audit import InsuranceAudit
from .models import OutOfCountyFile, OutOfCountyVisit, Scheme
from .selectors import office_of
from .settlement import AMOUNT_RE, CONTROL_RE

COLUMNS = [
    "settlement_number",
    "insurance_number",
    "scheme",
    "institution_name",
    "institution_region",
    "level",
    "kind",
    "visit_date",
    "total",
    "fund_paid",
]
MAX_ROWS = 200_000
MAX_BYTES = 64 * 1024 * 1024


def _money(value: str) -> Decimal | None:
    """An amount in yuan as the settlement files write it, not negative; None when it is not one."""
    if not AMOUNT_RE.fullmatch(value) or value.startswith("-"):
        return None
    return Decimal(value.replace(",", ""))


AMOUNT_RULE = gettext_lazy(
    "Not an amount in yuan: ASCII digits, at most two decimals, commas only every three digits, not negative."
)


def parse(text: str, schemes: dict[str, int]) -> tuple[list[dict], list[dict]]:
    """Rows and errors (each ``{"row", "field", "reason"}``) of a file's text; rows only when there are no errors."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != COLUMNS:
        return [], [
            {"row": 1, "field": "header", "reason": _("The header must be: %(columns)s") % {"columns": ",".join(COLUMNS)}}
        ]
    rows, errors, seen = [], [], set()
    for number, raw in enumerate(reader, start=2):
        if not any(cell.strip() for cell in raw):
            continue
        if len(raw) != len(COLUMNS):
            errors.append({"row": number, "field": "line", "reason": _("Expected %(n)s fields.") % {"n": len(COLUMNS)}})
            continue
        cells = dict(zip(COLUMNS, (cell.strip() for cell in raw), strict=True))

        def bad(field, reason, number=number):
            errors.append({"row": number, "field": field, "reason": str(reason)})

        controlled = [field for field, value in cells.items() if CONTROL_RE.search(value)]
        for field in controlled:
            bad(field, _("Control characters (such as NUL or a line break) are not allowed in a field."))
        if controlled:
            continue

        for field in ("settlement_number", "insurance_number", "institution_name"):
            if not cells[field] or len(cells[field]) > (
                200 if field == "institution_name" else 64 if field == "settlement_number" else 32
            ):
                bad(field, _("Required, and not too long."))
        if cells["settlement_number"] in seen:
            bad("settlement_number", _("This settlement number appears twice in the file."))
        seen.add(cells["settlement_number"])
        if cells["scheme"] not in schemes:
            bad("scheme", _("Unknown scheme code."))
        if len(cells["institution_region"]) != 6 or not cells["institution_region"].isdigit():
            bad("institution_region", _("A region code is the 6-digit administrative division code, e.g. 420525."))
        if cells["level"] not in InstitutionLevel.values:
            bad("level", _("Unknown institution level."))
        if cells["kind"] not in ("outpatient", "inpatient"):
            bad("kind", _("The kind is outpatient or inpatient."))
        try:
            visit_date = datetime.date.fromisoformat(cells["visit_date"])
        except ValueError:
            visit_date = None
            bad("visit_date", _("A date is written YYYY-MM-DD."))
        total, fund_paid = _money(cells["total"]), _money(cells["fund_paid"])
        if total is None:
            bad("total", AMOUNT_RULE)
        if fund_paid is None:
            bad("fund_paid", AMOUNT_RULE)
        elif total is not None and fund_paid > total:
            bad("fund_paid", _("The fund cannot pay more than the total."))
        rows.append({**cells, "visit_date": visit_date, "total": total, "fund_paid": fund_paid})
        if len(rows) > MAX_ROWS:
            return [], [{"row": number, "field": "line", "reason": _("At most %(n)s lines in one file.") % {"n": MAX_ROWS}}]
    return ([] if errors else rows), errors


def land_out_of_county_file(*, office, upload: bytes, file_name: str, actor) -> OutOfCountyFile:
    """Check and land one file of the office in one transaction; refuse it whole on any bad line."""
    if actor is not SYSTEM and office_of(actor) != office:
        raise NotPermitted(_("Only the insurance office itself can upload its out-of-county visits."))
    if len(upload) > MAX_BYTES:
        raise TooLarge(
            _("The file is larger than %(mb)s MB; split it by month.") % {"mb": MAX_BYTES // (1024 * 1024)}, field="file"
        )
    try:
        text = upload.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid(_("The file must be UTF-8 text."), field="file", code="bad_encoding") from None
    schemes = dict(Scheme.objects.values_list("code", "pk"))
    rows, errors = parse(text, schemes)
    if errors:
        raise Invalid(_("The file has bad lines; nothing was landed."), field="file", code="bad_lines", errors={"rows": errors})
    with transaction.atomic():
        numbers = {row["insurance_number"] for row in rows}
        patients = dict(Patient.objects.filter(insurance_number__in=numbers).values_list("insurance_number", "pk"))
        landed = OutOfCountyFile.objects.create(
            office=office, file_name=file_name[:200], sha256=hashlib.sha256(upload).hexdigest(), line_count=len(rows)
        )
        before = OutOfCountyVisit.objects.filter(office=office).count()
        OutOfCountyVisit.objects.bulk_create(
            [
                OutOfCountyVisit(
                    office=office,
                    file=landed,
                    settlement_number=row["settlement_number"],
                    insurance_number=row["insurance_number"],
                    patient_id=patients.get(row["insurance_number"]),
                    scheme_id=schemes[row["scheme"]],
                    institution_name=row["institution_name"],
                    institution_region=row["institution_region"],
                    level=row["level"],
                    inpatient=row["kind"] == "inpatient",
                    visit_date=row["visit_date"],
                    total=row["total"],
                    fund_paid=row["fund_paid"],
                )
                for row in rows
            ],
            batch_size=5000,
            ignore_conflicts=True,
        )
        landed.new_visits = OutOfCountyVisit.objects.filter(office=office).count() - before
        OutOfCountyFile.objects.filter(pk=landed.pk).update(new_visits=landed.new_visits)
        record_audit_event(
            actor=actor,
            action=InsuranceAudit.OUT_OF_COUNTY_LANDED,
            obj=landed,
            detail={"lines": len(rows), "new": landed.new_visits, "sha256": landed.sha256},
        )
    return landed
