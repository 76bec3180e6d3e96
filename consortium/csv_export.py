"""Every CSV the platform writes goes through here, so no cell can run as a spreadsheet formula.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel,
LibreOffice and Sheets as a formula (CSV injection). As OWASP recommends, such a text cell is
written with a leading apostrophe, which the spreadsheet shows as text. Numbers the platform
itself formats (``-12.30`` for a negative difference) are not text a user typed: a cell that is a
plain decimal number is written unchanged so the export still sums.
"""

import csv
import re
from decimal import Decimal

from rest_framework.renderers import BaseRenderer

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def safe_cell(value) -> str:
    """The cell as text, neutralised if a spreadsheet would evaluate it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float | Decimal):
        return str(value)
    text = str(value)
    if text.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


class SafeWriter:
    """``csv.writer`` whose rows are neutralised cell by cell; ``writerow`` returns what it wrote."""

    def __init__(self, file, **options):
        self._writer = csv.writer(file, **options)

    def writerow(self, values):
        return self._writer.writerow([safe_cell(value) for value in values])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def writer(file, **options) -> SafeWriter:
    return SafeWriter(file, **options)


class CsvRenderer(BaseRenderer):
    """Lets a CSV export view accept ``Accept: text/csv``; the view streams the body itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes | str) else b""
