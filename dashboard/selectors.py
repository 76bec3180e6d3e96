"""Reads of the dashboard app; every one is scoped through consortium.permissions."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from consortium.models import Consortium, Institution, InstitutionLevel, StaffRole
from consortium.permissions import Action, institution_ids_for, staff_of

from .charts import INDICATORS, PERCENT, ZERO_WHEN_MISSING, Chart
from .models import ExpenditureWarning, FundMonth, IndicatorValue, ScopeKind, WarningStatus
from .rollups import months_between


@dataclass(frozen=True)
class ScopeOption:
    kind: str
    id: int
    label: str

    @property
    def value(self) -> str:
        return f"{self.kind}:{self.id}"


def scopes_visible_to(user) -> list[ScopeOption]:
    """The consortia, townships and institutions whose indicators the user may read, in that order."""
    ids = institution_ids_for(user, Action.VIEW_DASHBOARD)
    staff = staff_of(user)
    institutions = Institution.objects.order_by("code")
    if ids is not None:
        institutions = institutions.filter(pk__in=ids)
    if ids is None:
        consortia = Consortium.objects.order_by("code")
    elif staff is not None and staff.role == StaffRole.CONSORTIUM_ADMINISTRATOR:
        consortia = Consortium.objects.filter(pk=staff.consortium_id)
    else:
        consortia = Consortium.objects.none()
    options = [ScopeOption(ScopeKind.CONSORTIUM, c.pk, _("Consortium: %(name)s") % {"name": c.name}) for c in consortia]
    institutions = list(institutions)
    options += [
        ScopeOption(ScopeKind.TOWNSHIP, i.pk, _("Township: %(name)s") % {"name": i.name})
        for i in institutions
        if i.level == InstitutionLevel.TOWNSHIP_HEALTH_CENTRE
    ]
    options += [ScopeOption(ScopeKind.INSTITUTION, i.pk, i.name) for i in institutions]
    return options


def indicator_rows(scope: str, scope_id: int, first: datetime.date, last: datetime.date, codes) -> dict:
    """``{code: {month: IndicatorValue}}`` for one scope and a range of months."""
    rows: dict[str, dict[datetime.date, IndicatorValue]] = {code: {} for code in codes}
    values = IndicatorValue.objects.filter(scope=scope, scope_id=scope_id, month__gte=first, month__lte=last, indicator__in=codes)
    for row in values:
        rows[row.indicator][row.month] = row
    return rows


def _display(code: str, value: Decimal | None) -> float | None:
    if value is None:
        return None
    unit = INDICATORS[code][1]
    return float(value * 100) if unit == PERCENT else float(value)


def charts_data(charts, scope: str, scope_id: int, first: datetime.date, last: datetime.date) -> list[dict]:
    """:func:`chart_data` of each chart, their indicator values read in one query."""
    rows = indicator_rows(scope, scope_id, first, last, {code for chart in charts for code in chart.indicators})
    return [chart_data(chart, scope, scope_id, first, last, rows=rows) for chart in charts]


def chart_data(
    chart: Chart, scope: str, scope_id: int, first: datetime.date, last: datetime.date, *, rows: dict | None = None
) -> dict:
    """The months and one series per indicator, ready for Chart.js, with the numbers behind each point.

    ``rows`` are the :func:`indicator_rows` already read for these months and scope, if any.
    """
    months = months_between(first, last)
    if rows is None:
        rows = indicator_rows(scope, scope_id, first, last, chart.indicators)
    series = []
    for code in chart.indicators:
        points = []
        for month in months:
            row = rows[code].get(month)
            if row is None:
                zero = code in ZERO_WHEN_MISSING
                points.append({"value": 0.0 if zero else None, "numerator": 0 if zero else None, "denominator": None})
            else:
                points.append(
                    {"value": _display(code, row.value), "numerator": float(row.numerator), "denominator": float(row.denominator)}
                )
        series.append({"code": code, "label": str(INDICATORS[code][0]), "points": points})
    return {
        "code": chart.code,
        "title": str(chart.title),
        "kind": chart.kind,
        "unit": chart.unit,
        "months": [f"{m:%Y-%m}" for m in months],
        "series": series,
        "has_data": any(rows[code] for code in chart.indicators),
        "rows": [
            {"month": f"{month:%Y-%m}", "values": [entry["points"][index]["value"] for entry in series]}
            for index, month in enumerate(months)
        ],
    }


def fund_months_visible_to(user, first: datetime.date, last: datetime.date) -> QuerySet:
    ids = institution_ids_for(user, Action.VIEW_DASHBOARD)
    rows = FundMonth.objects.filter(month__gte=first, month__lte=last).select_related("institution")
    if ids is not None:
        rows = rows.filter(institution__in=ids)
    return rows.order_by("-month", "institution__code")


def warnings_visible_to(user, status: str = WarningStatus.OPEN) -> QuerySet:
    """Administrators see warnings flagged to institutions on their dashboard; clinic staff their own patients'."""
    dashboard_ids = institution_ids_for(user, Action.VIEW_DASHBOARD)
    patient_ids = institution_ids_for(user, Action.VIEW_PATIENT)
    warnings = ExpenditureWarning.objects.select_related("patient", "patient__home_institution", "institution")
    if status:
        warnings = warnings.filter(status=status)
    if dashboard_ids is None or patient_ids is None:
        return warnings
    return warnings.filter(
        Q(institution__in=dashboard_ids) | Q(institution__in=patient_ids) | Q(patient__home_institution__in=patient_ids)
    )


def may_see_warnings(user) -> bool:
    dashboard_ids = institution_ids_for(user, Action.VIEW_DASHBOARD)
    patient_ids = institution_ids_for(user, Action.VIEW_PATIENT)
    return dashboard_ids is None or bool(dashboard_ids) or bool(patient_ids)
