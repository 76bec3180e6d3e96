"""The ICD-10 code list shipped with the project (records/data/icd10.csv).

A curated list of about 270 codes common in primary and secondary care, with Chinese and English
names; no PyPI package carries ICD-10 with Chinese names.  A visit's diagnosis codes are checked
against it by :func:`check_code`, whichever path the visit comes by (the web form and the API through
``records.services.record_encounter`` / ``update_encounter``, a FHIR import, a sync batch row).
"""

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.utils.translation import get_language
from django.utils.translation import gettext as _

from consortium.errors import Invalid

DATA_FILE = Path(__file__).resolve().parent / "data" / "icd10.csv"


@dataclass(frozen=True)
class Code:
    code: str
    name_zh: str
    name_en: str

    @property
    def name(self) -> str:
        return self.name_en if (get_language() or "").startswith("en") else self.name_zh


@cache
def codes() -> dict[str, Code]:
    with DATA_FILE.open(encoding="utf-8") as handle:
        return {row["code"]: Code(row["code"], row["name_zh"], row["name_en"]) for row in csv.DictReader(handle)}


def lookup(code: str) -> Code | None:
    return codes().get((code or "").strip().upper())


def check_code(code: str) -> Code:
    """The one ICD-10 rule for a visit's diagnosis: the code (trimmed, any case) must be in the catalogue.

    Returns the catalogue entry; raises :class:`~consortium.errors.Invalid` (``code="unknown_code"``,
    ``field="code"``) naming the code otherwise.  Callers put the message on their own field or row.
    """
    found = lookup(code)
    if found is None:
        raise Invalid(_("%(code)s is not a code in the ICD-10 list.") % {"code": code or ""}, field="code", code="unknown_code")
    return found


def search(query: str, limit: int = 15) -> list[Code]:
    """Codes whose code starts with the query, then those whose Chinese or English name contains it."""
    query = (query or "").strip()
    if not query:
        return []
    upper, lower = query.upper(), query.lower()
    by_code = [c for c in codes().values() if c.code.startswith(upper)]
    by_name = [c for c in codes().values() if c not in by_code and (query in c.name_zh or lower in c.name_en.lower())]
    return (by_code + by_name)[:limit]
