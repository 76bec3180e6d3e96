"""The county's scorecard: the national monitoring indicators over a period, with their definitions.

Each line sums the stored monthly numerators and denominators of its indicators over the period
(a rate over a period is Σ numerator / Σ denominator, never a mean of monthly rates), for all
residents and, where the indicator is split, for rural and urban residents. A register's state (the
enrolled patients, the standardised management rate, contract coverage) is not summed: a snapshot
line takes the period's last month with data; a line ``over`` a register divides the summed events
by the register at that month (the chronic patients' admission rate). The definitions are the
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
    snapshot: bool = False  # a state at each month's end: the period's last month, not a sum
    over: tuple[str, ...] = ()  # the denominator: these indicators' snapshot at the period's last month

    @property
    def label(self) -> str:
        return str(self.name or INDICATORS[self.all[0]][0])

    @property
    def unit(self) -> str:
        return PERCENT if self.over else INDICATORS[self.all[0]][1]


def _split(code: str, definition) -> Line:
    return Line(code, definition, (code,), (f"{code}_rural",), (f"{code}_urban",))


def _by_population(code: str, name, definition, snapshot: bool = False) -> Line:
    """An indicator stored only for rural and urban residents: all residents are the two summed."""
    return Line(code, definition, (f"{code}_rural", f"{code}_urban"), (f"{code}_rural",), (f"{code}_urban",), name, snapshot)


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
    Line(
        "hypertension_enrolled",
        _("Hypertension patients on the register at the end of the period (enrolled and not left)."),
        ("hypertension_enrolled",),
        snapshot=True,
    ),
    Line(
        "diabetes_enrolled",
        _("Type 2 diabetes patients on the register at the end of the period (enrolled and not left)."),
        ("diabetes_enrolled",),
        snapshot=True,
    ),
    _by_population(
        "bp_standardised_rate",
        _("Standardised hypertension management rate"),
        _(
            "Enrolled hypertension patients with the face-to-face follow-ups the national minimum asks for in the year "
            "up to the period's end, over the enrolled hypertension patients."
        ),
        snapshot=True,
    ),
    _by_population(
        "glucose_standardised_rate",
        _("Standardised diabetes management rate"),
        _(
            "Enrolled diabetes patients with the face-to-face follow-ups the national minimum asks for in the year up to "
            "the period's end, over the enrolled diabetes patients."
        ),
        snapshot=True,
    ),
    Line(
        "chronic_admission_rate",
        _(
            "Admissions in the period of patients on a hypertension or diabetes register over the patients on those "
            "registers at the period's end."
        ),
        ("chronic_admissions",),
        name=_("Chronic patients' admission rate"),
        over=("hypertension_enrolled", "diabetes_enrolled"),
    ),
    _by_population(
        "contract_coverage",
        _("Family-doctor contract coverage"),
        _("Registered residents covered by a family-doctor contract in force at the period's end, over the residents."),
        snapshot=True,
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


ZERO_PAIR = (Decimal(0), Decimal(0))


def _figures(months: dict, line: Line, codes: tuple[str, ...]) -> tuple[Decimal, Decimal] | None:
    """The line's numerator and denominator over ``codes`` from ``{code: {month: (n, d)}}``; None without data."""
    present = [month for code in codes for month in months.get(code, {})]
    if not present:
        return None
    if line.snapshot:
        last = max(present)
        pairs = [months.get(code, {}).get(last, ZERO_PAIR) for code in codes]
    else:
        pairs = [pair for code in codes for pair in months.get(code, {}).values()]
    n = sum((pair[0] for pair in pairs), Decimal(0))
    d = sum((pair[1] for pair in pairs), Decimal(0))
    if line.over:
        register = [month for code in line.over for month in months.get(code, {})]
        last = max(register) if register else None
        d = sum((months.get(code, {}).get(last, ZERO_PAIR)[0] for code in line.over), Decimal(0))
    return n, d


def scorecard(scope: str, scope_id: int, first: datetime.date, last: datetime.date) -> list[dict]:
    """One row per line: numerator, denominator and value for all residents, and the rural and urban values."""
    codes = {code for line in LINES for code in (*line.all, *line.rural, *line.urban, *line.over)}
    months: dict[str, dict[datetime.date, tuple[Decimal, Decimal]]] = {}
    rows = IndicatorValue.objects.filter(
        scope=scope, scope_id=scope_id, month__gte=first, month__lte=last, indicator__in=codes
    ).values_list("indicator", "month", "numerator", "denominator")
    for code, month, n, d in rows:
        months.setdefault(code, {})[month] = (n, d)
    result = []
    for line in LINES:
        figures = _figures(months, line, line.all)
        has_data = figures is not None
        n, d = figures or ZERO_PAIR
        value = _rate(n, d, line.unit) if has_data else None
        rural = _rate(*pair, line.unit) if (pair := _figures(months, line, line.rural)) else None
        urban = _rate(*pair, line.unit) if (pair := _figures(months, line, line.urban)) else None
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
