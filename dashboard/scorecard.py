"""The county's scorecard: the national monitoring indicators over a period, with their definitions.

Each line sums the stored monthly numerators and denominators of its indicators over the period
(a rate over a period is Σ numerator / Σ denominator, never a mean of monthly rates), for all
residents and, where the indicator is split, for rural and urban residents. The definitions are the
published ones, summarised; ``docs/INDICATORS.md`` gives each formula and its source fields.
"""

import datetime
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext_lazy as _

from .charts import COUNT, INDICATORS, PERCENT, YUAN
from .models import IndicatorValue

TWO = Decimal("0.01")


@dataclass(frozen=True)
class Line:
    code: str
    definition: str
    all: tuple[str, ...]  # the stored indicators summed for all residents
    rural: tuple[str, ...] = ()
    urban: tuple[str, ...] = ()

    name: str = ""  # when the line's indicators are stored only by population

    @property
    def label(self) -> str:
        return str(self.name or INDICATORS[self.all[0]][0])

    @property
    def unit(self) -> str:
        return INDICATORS[self.all[0]][1]


def _split(code: str, definition) -> Line:
    return Line(code, definition, (code,), (f"{code}_rural",), (f"{code}_urban",))


def _by_population(code: str, name, definition) -> Line:
    """An indicator stored only for rural and urban residents: all residents are the two summed."""
    return Line(code, definition, (f"{code}_rural", f"{code}_urban"), (f"{code}_rural",), (f"{code}_urban",), name)


LINES = [
    _split(
        "in_county_visit_rate",
        _(
            "The county's insured residents' visits at institutions inside the county over all their visits, "
            "including visits outside the county from the insurer's settlement data."
        ),
    ),
    _split(
        "in_county_inpatient_rate",
        _("The residents' admissions inside the county over all their admissions, inside and outside."),
    ),
    _split(
        "primary_visit_share",
        _("Visits at village clinics and township health centres over all visits of the residents."),
    ),
    _split(
        "fund_in_county_share",
        _(
            "What the basic medical insurance fund paid for the residents' care inside the county over "
            "all it paid for them, inside and outside the county."
        ),
    ),
    _split(
        "fund_primary_share",
        _("What the fund paid at primary-level institutions over all it paid for the residents."),
    ),
    Line("referrals_up", _("Upward referrals submitted in the period (not cancelled)."), ("referrals_up",)),
    Line("referrals_down", _("Downward referrals submitted in the period (not cancelled)."), ("referrals_down",)),
    Line(
        "seconded_physicians",
        _(
            "Physicians the member hospitals seconded to primary-level institutions, counted in each month a secondment "
            "covers; over a period, the sum of the months (physician-months)."
        ),
        ("seconded_physicians",),
    ),
    _by_population(
        "bp_control_rate",
        _("Blood pressure control rate"),
        _(
            "Enrolled hypertension patients followed up in the month whose last follow-up of the month had the "
            "blood pressure under the target, over those followed up (summed over the months of the period)."
        ),
    ),
    _by_population(
        "glucose_control_rate",
        _("Blood glucose control rate"),
        _(
            "Enrolled diabetes patients followed up in the month whose last follow-up of the month had the "
            "blood glucose under the target, over those followed up (summed over the months of the period)."
        ),
    ),
    Line("dx_studies", _("Diagnostic studies ordered from the shared centres in the period."), ("dx_studies",)),
    Line(
        "dx_township_coverage",
        _(
            "Member township health centres that (or whose village clinics) ordered at least one study from a shared "
            "centre in the month, over all member township centres; over a period, the mean of the months."
        ),
        ("dx_township_coverage",),
    ),
    _by_population(
        "reimbursement_ratio",
        _("Reimbursement ratio"),
        _("What basic insurance paid over the total charges of the effective claims."),
    ),
]


def _rate(numerator: Decimal, denominator: Decimal, unit: str) -> Decimal | None:
    if unit == PERCENT:
        return (numerator * 100 / denominator).quantize(TWO, rounding=ROUND_HALF_UP) if denominator else None
    if unit in (COUNT, YUAN):
        return numerator.quantize(TWO, rounding=ROUND_HALF_UP)
    return (numerator / denominator).quantize(TWO, rounding=ROUND_HALF_UP) if denominator else None


def _sums(values: dict, codes: tuple[str, ...]) -> tuple[Decimal, Decimal]:
    n = sum((values.get(code, (Decimal(0), Decimal(0)))[0] for code in codes), Decimal(0))
    d = sum((values.get(code, (Decimal(0), Decimal(0)))[1] for code in codes), Decimal(0))
    return n, d


def scorecard(scope: str, scope_id: int, first: datetime.date, last: datetime.date) -> list[dict]:
    """One row per line: numerator, denominator and value for all residents, and the rural and urban values."""
    codes = {code for line in LINES for code in (*line.all, *line.rural, *line.urban)}
    values: dict[str, tuple[Decimal, Decimal]] = {}
    rows = IndicatorValue.objects.filter(
        scope=scope, scope_id=scope_id, month__gte=first, month__lte=last, indicator__in=codes
    ).values_list("indicator", "numerator", "denominator")
    for code, n, d in rows:
        before = values.get(code, (Decimal(0), Decimal(0)))
        values[code] = (before[0] + n, before[1] + d)
    result = []
    for line in LINES:
        n, d = _sums(values, line.all)
        has_data = any(code in values for code in line.all)
        value = _rate(n, d, line.unit) if has_data else None
        rural = _rate(*_sums(values, line.rural), line.unit) if any(c in values for c in line.rural) else None
        urban = _rate(*_sums(values, line.urban), line.unit) if any(c in values for c in line.urban) else None
        result.append(
            {
                "code": line.code,
                "label": line.label,
                "unit": line.unit,
                "definition": str(line.definition),
                "numerator": n.quantize(TWO) if has_data else None,
                "denominator": d.quantize(TWO) if has_data and line.unit == PERCENT else None,
                "value": value,
                "rural": rural,
                "urban": urban,
                "figures": (value, rural, urban),
            }
        )
    return result
