"""How amounts and ratios are shown on every page: money to the fen with thousands separators, ratios as %.

``{{ amount|money }}`` → ``12,345.60`` (``—`` for nothing); ``{{ ratio|percent }}`` → ``55%`` or ``55.25%``;
``{{ size|file_kind }}`` → a file's kind in words (``PDF document``) instead of its MIME type.
"""

import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template
from django.utils.formats import date_format
from django.utils.translation import gettext as _

register = template.Library()

CENT = Decimal("0.01")


def _decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None


@register.filter
def money(value) -> str:
    """Two decimals (rounded half up to the fen) and a comma every three digits."""
    number = _decimal(value)
    if number is None:
        return "—"
    return f"{number.quantize(CENT, rounding=ROUND_HALF_UP):,.2f}"


@register.filter
def percent(value, places: int = 2) -> str:
    """A ratio (0.5525) as a percentage (55.25%), trailing zeros dropped (0.55 → 55%)."""
    number = _decimal(value)
    if number is None:
        return "—"
    scaled = (number * 100).quantize(Decimal(1).scaleb(-int(places)), rounding=ROUND_HALF_UP)
    text = f"{scaled:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


FILE_KINDS = {
    "application/pdf": lambda: _("PDF document"),
    "image/png": lambda: _("PNG image"),
    "image/jpeg": lambda: _("JPEG image"),
    "text/csv": lambda: _("CSV file"),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": lambda: _("Excel workbook"),
    "application/dicom": lambda: _("DICOM image"),
    "application/json": lambda: _("JSON file"),
}


@register.filter
def file_kind(content_type: str) -> str:
    """A MIME type in words; an unknown one is "file"."""
    label = FILE_KINDS.get((content_type or "").split(";")[0].strip().lower())
    return label() if label else _("file")


@register.filter
def month_label(period) -> str:
    """A ``YYYY-MM`` period in words of the active language: ``2026年3月`` / ``March 2026``."""
    text = str(period or "")
    try:
        year, month = (int(part) for part in text.split("-"))
        return date_format(datetime.date(year, month, 1), "YEAR_MONTH_FORMAT")
    except (ValueError, TypeError):
        return text or "—"
