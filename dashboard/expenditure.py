"""The catastrophic health expenditure measure: a patient's self-pay over a window, in one query.

Self-pay of a visit is the self-pay of its effective claim (an original claim neither rejected nor
reversed); a visit without one was paid in full by the patient, so its charges count whole.
A patient is flagged when that sum reaches the absolute threshold, or reaches ``relative_share`` of
the household income where it is known (the recorded annual income, else the income band's
reference income). Both comparisons are inclusive: reaching a threshold flags.
"""

import datetime
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from consortium.models import Consortium
from insurance.models import Claim, effective_claim
from records.models import ChargeItem, Encounter, Patient

from .models import BAND_REFERENCE_INCOME, WarningPolicy
from .rollups import TownshipOf

MONEY = DecimalField(max_digits=14, decimal_places=2)
ZERO = Value(Decimal("0.00"), output_field=MONEY)
FEN = Decimal("0.01")


def to_fen(amount: Decimal) -> Decimal:
    return Decimal(amount).quantize(FEN, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Thresholds:
    absolute: Decimal
    relative_share: Decimal
    window_months: int

    @classmethod
    def for_consortium(cls, consortium: Consortium) -> "Thresholds":
        policy = WarningPolicy.objects.filter(consortium=consortium).first()
        if policy is None:
            defaults = WarningPolicy.DEFAULTS
            return cls(defaults["absolute_threshold"], defaults["relative_share"], defaults["window_months"])
        return cls(policy.absolute_threshold, policy.relative_share, policy.window_months)


def window_start(today: datetime.date, months: int) -> datetime.date:
    """The day ``months`` calendar months before ``today`` (clamped to the month's end), plus one day."""
    month_index = today.year * 12 + today.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    for day in (today.day, 30, 29, 28):
        try:
            return datetime.date(year, month, day) + datetime.timedelta(days=1)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _effective_claim(encounter_ref: str = "pk") -> QuerySet:
    return Claim.objects.filter(effective_claim(), encounter=OuterRef(encounter_ref))


def flagged_institution():
    """The township clinic a warning goes to: the home institution, or the centre above a village clinic."""
    return Coalesce(TownshipOf("home_institution"), F("home_institution"), output_field=BigIntegerField())


def reference_income():
    bands = [
        When(household__income_band=band, then=Value(amount, output_field=MONEY))
        for band, amount in BAND_REFERENCE_INCOME.items()
    ]
    return Coalesce(F("household__annual_income"), Case(*bands, default=Value(None), output_field=MONEY), output_field=MONEY)


def patients_with_self_pay(consortium: Consortium, start: datetime.date, end: datetime.date, thresholds: Thresholds) -> QuerySet:
    """Patients of the consortium's members, annotated with self-pay and visits in [start, end] and the thresholds."""
    since = timezone.make_aware(datetime.datetime.combine(start, datetime.time.min))
    until = timezone.make_aware(datetime.datetime.combine(end + datetime.timedelta(days=1), datetime.time.min))
    in_window = Q(started_at__gte=since, started_at__lt=until)
    claims_pay = (
        Claim.objects.filter(
            effective_claim(),
            encounter__patient=OuterRef("pk"),
            encounter__started_at__gte=since,
            encounter__started_at__lt=until,
        )
        .values("encounter__patient")
        .annotate(total=Sum("self_pay"))
        .values("total")
    )
    cash_pay = (
        ChargeItem.objects.filter(
            encounter__patient=OuterRef("pk"), encounter__started_at__gte=since, encounter__started_at__lt=until
        )
        .exclude(Exists(_effective_claim("encounter")))
        .values("encounter__patient")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    visits = Encounter.objects.filter(in_window, patient=OuterRef("pk")).values("patient").annotate(n=Count("pk")).values("n")
    return (
        Patient.objects.filter(merged_into__isnull=True, home_institution__memberships__consortium=consortium)
        .annotate(
            self_pay_total=Coalesce(Subquery(claims_pay, output_field=MONEY), ZERO)
            + Coalesce(Subquery(cash_pay, output_field=MONEY), ZERO),
            visit_count=Coalesce(Subquery(visits), Value(0)),
            flag_institution=flagged_institution(),
            income=reference_income(),
        )
        .annotate(relative_threshold=F("income") * Value(thresholds.relative_share, output_field=MONEY))
    )


#: Floating-point sums (SQLite stores decimals as REAL) are prefiltered with this slack; the decision is exact.
PREFILTER_SLACK = Decimal("1.00")


def candidates(patients: QuerySet, thresholds: Thresholds) -> QuerySet:
    """Patients near or over a threshold; :func:`decide` makes the exact Decimal decision."""
    absolute = Value(thresholds.absolute - PREFILTER_SLACK, output_field=MONEY)
    slack = Value(PREFILTER_SLACK, output_field=MONEY)
    return patients.filter(
        Q(self_pay_total__gte=absolute) | Q(relative_threshold__isnull=False, self_pay_total__gte=F("relative_threshold") - slack)
    )


@dataclass(frozen=True)
class Decision:
    over_absolute: bool
    over_relative: bool
    relative_threshold: Decimal | None

    @property
    def flagged(self) -> bool:
        return self.over_absolute or self.over_relative


def decide(self_pay: Decimal, income: Decimal | None, thresholds: Thresholds) -> Decision:
    """Exact, inclusive comparison: reaching a threshold flags. The relative threshold is rounded to the fen."""
    relative = to_fen(income * thresholds.relative_share) if income is not None else None
    return Decision(
        over_absolute=self_pay >= thresholds.absolute,
        over_relative=relative is not None and self_pay >= relative,
        relative_threshold=relative,
    )
