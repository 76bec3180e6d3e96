"""The drug and service-item price catalogues: CSV import with a per-row report, search, the shipped data.

A CSV is checked whole before anything is written: every bad row is reported with its record number
and field, and one bad row means nothing is imported. A good file is upserted by code; with
``replace`` the entries of that catalogue missing from the file are deactivated (kept for the
visits that name them). ``records/data/drug_catalogue.csv`` and ``service_item_catalogue.csv`` are a
realistic subset (common drugs and service items with codes in the national medical insurance style).
"""

import csv
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pypinyin import Style, lazy_pinyin

from consortium import errors
from consortium.permissions import Action, can_anywhere
from consortium.services import record_audit_event

from .audit import RecordsAudit
from .models import CatalogueClass, CatalogueEntry, CatalogueImport, CatalogueKind, ChargeCategory

DATA_DIR = Path(__file__).resolve().parent / "data"
SHIPPED = {CatalogueKind.DRUG: DATA_DIR / "drug_catalogue.csv", CatalogueKind.SERVICE: DATA_DIR / "service_item_catalogue.csv"}
MAX_ROWS = 50_000
MAX_BYTES = 10 * 1024 * 1024

#: Columns of each catalogue's CSV (header names; order free); the first ones are required.
COLUMNS = {
    CatalogueKind.DRUG: ("code", "name", "unit_price", "insurance_class", "specification", "dosage_form", "unit"),
    CatalogueKind.SERVICE: ("code", "name", "unit_price", "insurance_class", "category", "specification", "unit"),
}
REQUIRED = ("code", "name", "unit_price", "insurance_class")
CLASSES = {"甲": "A", "乙": "B", "丙": "C", "A": "A", "B": "B", "C": "C"}
CODE = re.compile(r"^[A-Z0-9][A-Z0-9.\-]{2,31}$")
PRICE = re.compile(r"^\d{1,8}(\.\d{1,2})?$")
LIMITS = {"name": 200, "specification": 100, "dosage_form": 32, "unit": 16}


class CatalogueImportError(errors.Invalid):
    """The file is refused whole; ``rows`` lists ``(record number, field, message)`` of every bad row."""

    code = "catalogue_rejected"

    def __init__(self, message, *, rows: list[tuple[int, str, str]] | None = None, field: str | None = "file"):
        super().__init__(message, field=field)
        self.rows = rows or []


@dataclass
class ImportReport:
    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)


def name_initials(name: str) -> str:
    """``"阿司匹林肠溶片"`` → ``"asplcrp"``; Latin letters and digits are kept (``维生素B1片`` → ``wssb1p``)."""
    parts = lazy_pinyin(name or "", style=Style.FIRST_LETTER, errors=lambda chars: list(chars))
    return "".join(ch for part in parts for ch in part.lower() if ch.isascii() and ch.isalnum())[:100]


def may_manage(user) -> bool:
    """The consortium administrator (the catalogue is the consortium's, not one institution's)."""
    return can_anywhere(user, Action.CONFIGURE_CATALOGUES)


def parse(kind: str, content: bytes | str) -> list[dict]:
    """The file's rows as clean dicts, or :class:`CatalogueImportError` naming every bad row."""
    if kind not in CatalogueKind.values:
        raise CatalogueImportError(gettext_lazy("Choose the catalogue to import."), field="kind")
    if isinstance(content, bytes):
        if len(content) > MAX_BYTES:
            raise CatalogueImportError(gettext_lazy("The file is larger than 10 MB."))
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise CatalogueImportError(gettext_lazy("The file is not UTF-8 text; save it as CSV UTF-8.")) from None
    reader = csv.DictReader(io.StringIO(content))
    header = [name.strip() for name in (reader.fieldnames or [])]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise CatalogueImportError(_("The header lacks the columns %(columns)s.") % {"columns": ", ".join(missing)})
    unknown = [name for name in header if name not in COLUMNS[kind]]
    if unknown:
        raise CatalogueImportError(_("Unknown columns: %(columns)s.") % {"columns": ", ".join(unknown)})
    rows, problems, seen = [], [], {}
    for number, raw in enumerate(reader, start=1):
        if number > MAX_ROWS:
            raise CatalogueImportError(gettext_lazy("The file has more than 50,000 rows."))
        if None in raw:
            problems.append((number, "", _("The row has more fields than the header.")))
            continue
        row = {key.strip(): (value or "").strip() for key, value in raw.items()}
        if not any(row.values()):
            continue
        row_problems = _check_row(kind, row)
        if not row_problems and row["code"] in seen:
            row_problems = [("code", _("The code is already in record %(number)d.") % {"number": seen[row["code"]]})]
        problems += [(number, name, message) for name, message in row_problems]
        if not row_problems:
            seen[row["code"]] = number
            rows.append(row)
    if problems:
        raise CatalogueImportError(
            _("%(count)d rows are wrong; nothing was imported.") % {"count": len({n for n, _f, _m in problems})}, rows=problems
        )
    if not rows:
        raise CatalogueImportError(gettext_lazy("The file has no rows."))
    return rows


def _check_row(kind: str, row: dict) -> list[tuple[str, str]]:
    problems = []
    row["code"] = row.get("code", "").upper()
    if not CODE.match(row["code"]):
        problems.append(("code", _("A code is 3 to 32 capital letters, digits, dots or hyphens.")))
    if not row.get("name"):
        problems.append(("name", _("Give the name.")))
    for name, limit in LIMITS.items():
        if len(row.get(name, "")) > limit:
            problems.append((name, _("At most %(limit)d characters.") % {"limit": limit}))
    price = row.get("unit_price", "")
    if not PRICE.match(price):
        problems.append(("unit_price", _("The unit price is a number with at most two decimals, like 12.50.")))
    else:
        try:
            row["unit_price"] = Decimal(price).quantize(Decimal("0.01"))
        except InvalidOperation:
            problems.append(("unit_price", _("The unit price is a number with at most two decimals, like 12.50.")))
    insurance_class = CLASSES.get(row.get("insurance_class", "").upper())
    if insurance_class is None:
        problems.append(("insurance_class", _("The insurance class is 甲, 乙 or 丙 (or A, B, C).")))
    row["insurance_class"] = insurance_class
    if kind == CatalogueKind.DRUG:
        row["category"] = ChargeCategory.DRUG
    elif row.get("category", "") not in ChargeCategory.values or row.get("category") == ChargeCategory.DRUG:
        choices = ", ".join(value for value in ChargeCategory.values if value != ChargeCategory.DRUG)
        problems.append(("category", _("The category is one of %(choices)s.") % {"choices": choices}))
    return problems


FIELDS = ("name", "specification", "dosage_form", "unit", "unit_price", "insurance_class", "category")


def import_catalogue(*, actor, kind: str, content: bytes | str, replace: bool = False, file_name: str = "") -> ImportReport:
    """Check the file whole, then upsert it by code in one transaction (audited); see the module text."""
    if not may_manage(actor):
        raise errors.NotPermitted(gettext_lazy("Only the consortium administrator loads the catalogues."))
    rows = parse(kind, content)
    return _write(kind, rows, replace=replace, actor=actor, file_name=file_name)


def _write(kind: str, rows: list[dict], *, replace: bool, actor, file_name: str = "") -> ImportReport:
    report = ImportReport(kind=kind, rows=len(rows))
    with transaction.atomic():
        existing = {entry.code: entry for entry in CatalogueEntry.objects.select_for_update().filter(kind=kind)}
        new, changed = [], []
        for row in rows:
            values = {name: row.get(name, "") for name in FIELDS}
            values["initials"] = name_initials(values["name"])
            entry = existing.get(row["code"])
            if entry is None:
                new.append(CatalogueEntry(kind=kind, code=row["code"], **values))
                continue
            if all(getattr(entry, name) == value for name, value in values.items()) and entry.is_active:
                report.unchanged += 1
                continue
            for name, value in values.items():
                setattr(entry, name, value)
            entry.is_active = True
            changed.append(entry)
        CatalogueEntry.objects.bulk_create(new, batch_size=1000)
        CatalogueEntry.objects.bulk_update(changed, [*FIELDS, "initials", "is_active", "updated_at"], batch_size=1000)
        report.created, report.updated = len(new), len(changed)
        if replace:
            codes = {row["code"] for row in rows}
            stale = [code for code, entry in existing.items() if code not in codes and entry.is_active]
            report.deactivated = CatalogueEntry.objects.filter(kind=kind, code__in=stale).update(is_active=False)
        if report.created or report.updated or report.deactivated or actor is not None:
            log = CatalogueImport.objects.create(
                kind=kind,
                file_name=file_name[:200],
                replace=replace,
                rows=report.rows,
                created=report.created,
                updated=report.updated,
                deactivated=report.deactivated,
                imported_by=actor if getattr(actor, "pk", None) else None,
            )
            record_audit_event(
                actor=actor,
                action=RecordsAudit.CATALOGUE_IMPORTED,
                obj=log,
                detail={
                    "kind": kind,
                    "rows": report.rows,
                    "created": report.created,
                    "updated": report.updated,
                    "deactivated": report.deactivated,
                },
            )
    return report


def write_rows(kind: str, rows: list[dict], *, replace: bool = False, file_name: str = "") -> ImportReport:
    """Write parsed rows as the system (the management command); see :func:`import_catalogue`."""
    return _write(kind, rows, replace=replace, actor=None, file_name=file_name)


def load_shipped(kind: str | None = None) -> list[ImportReport]:
    """Load the shipped catalogue data (demo seeding, ``manage.py load_catalogues``); idempotent."""
    kinds = [kind] if kind else list(SHIPPED)
    return [_write(k, parse(k, SHIPPED[k].read_bytes()), replace=False, actor=None, file_name=SHIPPED[k].name) for k in kinds]


def search(kind: str | None, query: str, limit: int = 15) -> list[CatalogueEntry]:
    """Active entries whose code starts with, name contains or pinyin initials start with the query."""
    query = (query or "").strip()
    if not query:
        return []
    entries = CatalogueEntry.objects.filter(is_active=True)
    if kind:
        entries = entries.filter(kind=kind)
    condition = Q(name__contains=query) | Q(code__istartswith=query)
    if query.isascii() and query.isalnum():
        condition |= Q(initials__startswith=query.lower())
    return list(entries.filter(condition).order_by("kind", "name", "code")[:limit])


def class_label(value: str) -> str:
    return CatalogueClass(value).label if value in CatalogueClass.values else value


def counts() -> dict[str, int]:
    """Active entries per catalogue, by its label."""
    return {kind.label: CatalogueEntry.objects.filter(kind=kind, is_active=True).count() for kind in CatalogueKind}
