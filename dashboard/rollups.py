"""Set-based roll-ups of the equalization indicators: one GROUP BY (scope, month) query per indicator and scope.

Each indicator is a fact queryset (visits, referrals, claims...) annotated with its ``month`` plus a
rule that attributes each fact to an institution:

* institution scope: the attributed institution(s) (a referral counts for both of its ends);
* township scope: the township health centre of the attributed institution (itself, or the centre
  above a village clinic; hospitals belong to no township);
* consortium scope: facts whose attributed institution is a member of the consortium.

Ratios keep their numerator and denominator, so that a reader can check every value; medians use
``ROW_NUMBER()`` over a window (portable to SQLite and PostgreSQL) instead of loading rows.
"""

import contextlib
import datetime
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    DateField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate, TruncMonth
from django.utils import timezone

from chronic.models import Contract as ChronicContract
from chronic.models import ContractStatus as ChronicContractStatus
from chronic.models import Enrolment as ChronicEnrolment
from chronic.models import EnrolmentStatus as ChronicEnrolmentStatus
from chronic.models import FollowUp as ChronicFollowUp
from chronic.models import FollowUpMethod as ChronicFollowUpMethod
from chronic.models import FollowUpStatus as ChronicFollowUpStatus
from chronic.rules import NATIONAL_MINIMUM_VISITS
from consortium.models import Consortium, Institution, InstitutionLevel, Membership, Secondment
from diagnostics.models import REPORTED_STATUSES, CriticalValue, Order, OrderStatus, RecognitionDecision
from insurance.models import Claim, Discrepancy, DiscrepancyKind, OutOfCountyVisit, ReconciliationRun, effective_claim
from records.models import Encounter, EncounterKind, Patient
from referrals.models import Direction, FollowUpStatus, FollowUpTask, Referral, ReferralStatus, SatisfactionRating
from sync.models import Delivery, DeliveryStatus

from .models import ScopeKind

FOUR_PLACES = Decimal("0.0001")
PRIMARY = [InstitutionLevel.VILLAGE_CLINIC, InstitutionLevel.TOWNSHIP_HEALTH_CENTRE]
MEDIANS = ("median", "p90")
ACCEPTED = [ReferralStatus.ACCEPTED, ReferralStatus.ARRIVED, ReferralStatus.IN_TREATMENT, ReferralStatus.COMPLETED]
DECIDED = [*ACCEPTED, ReferralStatus.REJECTED, ReferralStatus.REDIRECTED]


def quantize(value) -> Decimal:
    """Four decimal places, ROUND_HALF_UP (ratios are stored as fractions, medians in hours)."""
    return Decimal(value).quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)


def month_start(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def next_month(day: datetime.date) -> datetime.date:
    return (day.replace(day=1) + datetime.timedelta(days=32)).replace(day=1)


def months_back(today: datetime.date, months: int) -> datetime.date:
    """The first day of the earliest of ``months`` calendar months ending with ``today``'s."""
    first = month_start(today)
    for _step in range(months - 1):
        first = (first - datetime.timedelta(days=1)).replace(day=1)
    return first


def months_between(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    months, current = [], month_start(first)
    while current <= last:
        months.append(current)
        current = next_month(current)
    return months


def month_key(value) -> datetime.date:
    """A month as its first day, from what a database returns for TruncMonth, a date or a ``YYYY-MM`` period."""
    if isinstance(value, str):
        return datetime.date.fromisoformat(value[:7] + "-01")
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        return value.date().replace(day=1)
    return value.replace(day=1)


class TownshipOf(Case):
    """The township health centre of the institution at ``path``: itself, or the centre above a village clinic.

    In SQL a CASE over the institution joined at ``path``; ``_sums`` groups by the ``path`` column
    itself instead and maps each institution to its centre (``townships``): a GROUP BY on a CASE
    has no statistics, and PostgreSQL, expecting a hundred thousand groups where there were 640,
    sorted the province's eight million residents through an index (12.5 s) rather than hash them.
    """

    def __init__(self, path: str):
        self.path = path
        super().__init__(
            When(**{f"{path}__level": InstitutionLevel.VILLAGE_CLINIC}, then=F(f"{path}__parent")),
            When(**{f"{path}__level": InstitutionLevel.TOWNSHIP_HEALTH_CENTRE}, then=F(path)),
            default=Value(None),
            output_field=BigIntegerField(),
        )


def townships() -> dict[int, int | None]:
    """Each institution's township health centre, as ``TownshipOf`` gives it (None above the townships)."""
    centre = {}
    for pk, level, parent in Institution.objects.values_list("pk", "level", "parent"):
        if level == InstitutionLevel.TOWNSHIP_HEALTH_CENTRE:
            centre[pk] = pk
        elif level == InstitutionLevel.VILLAGE_CLINIC:
            centre[pk] = parent
        else:
            centre[pk] = None
    return centre


def _primary_end(expr_up, expr_down, direction: str = "direction"):
    """For a referral: the expression of its primary-level end (the sender going up, the receiver going down)."""
    return Case(When(**{direction: Direction.UP}, then=expr_up), default=expr_down, output_field=BigIntegerField())


@dataclass(frozen=True)
class Window:
    first: datetime.date  # first day of the first month
    end: datetime.date  # first day after the last month
    today: datetime.date

    def aware(self, day: datetime.date) -> datetime.datetime:
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))

    def datetime_range(self, field_name: str) -> Q:
        return Q(**{f"{field_name}__gte": self.aware(self.first), f"{field_name}__lt": self.aware(self.end)})

    @property
    def periods(self) -> list[str]:
        return [f"{m:%Y-%m}" for m in months_between(self.first, self.end - datetime.timedelta(days=1))]


@dataclass(frozen=True)
class Indicator:
    """One indicator: its facts, how they sum, and to which institution each fact is attributed."""

    code: str
    kind: str  # "ratio" | "count" | "sum" (of money, in yuan) | "mean" | "median" | "p90"
    facts: Callable[[Window], QuerySet]
    institution: tuple  # expressions giving the attributed institution id(s) for the institution scope
    township: object  # expression giving the township centre id
    member: object  # expression giving the institution id tested for consortium membership
    numerator: object = None
    denominator: object = None
    duration: object = None  # for medians: an expression giving a duration
    #: The facts this indicator counts, of those ``facts`` returns. Indicators of one ``facts`` function
    #: are read together, one statement per key, each restricted to its own ``where`` (see ``_sums``).
    where: Q | None = None
    #: A state at the end of each month (enrolled, standardised, covered) rather than events in it:
    #: ``facts`` is called once per month with that month's window and annotates ``month`` itself.
    snapshot: bool = False


def _encounters(window: Window) -> QuerySet:
    return Encounter.objects.filter(window.datetime_range("started_at")).annotate(month=TruncMonth("started_at"))


def _submitted_referrals(window: Window) -> QuerySet:
    return (
        Referral.objects.filter(window.datetime_range("submitted_at"))
        .exclude(status=ReferralStatus.CANCELLED)
        .annotate(month=TruncMonth("submitted_at"))
    )


def _effective_claims(window: Window) -> QuerySet:
    """Original claims of the months that were neither rejected nor reversed."""
    return Claim.objects.filter(effective_claim(), period__in=window.periods).annotate(month=F("period"))


def _latest_discrepancies(window: Window) -> QuerySet:
    newer = ReconciliationRun.objects.filter(
        institution=OuterRef("run__institution"), period=OuterRef("run__period"), pk__gt=OuterRef("run")
    )
    return Discrepancy.objects.filter(run__period__in=window.periods).exclude(Exists(newer)).annotate(month=F("run__period"))


def _follow_ups(window: Window) -> QuerySet:
    """Follow-up tasks due in the months, up to yesterday (a task due today is not late yet)."""
    return FollowUpTask.objects.filter(due_on__gte=window.first, due_on__lt=min(window.end, window.today)).annotate(
        month=TruncMonth("due_on")
    )


def _ratings(window: Window) -> QuerySet:
    return SatisfactionRating.objects.filter(window.datetime_range("recorded_at")).annotate(month=TruncMonth("recorded_at"))


def _deliveries(window: Window) -> QuerySet:
    return Delivery.objects.filter(window.datetime_range("delivered_at"), status=DeliveryStatus.DELIVERED).annotate(
        month=TruncMonth("delivered_at")
    )


def _reported_orders(window: Window) -> QuerySet:
    """Diagnostic orders whose report was signed in the months (turnaround: order to first signed report)."""
    return Order.objects.filter(window.datetime_range("reported_at"), status__in=REPORTED_STATUSES).annotate(
        month=TruncMonth("reported_at")
    )


def _requested_orders(window: Window) -> QuerySet:
    return (
        Order.objects.filter(window.datetime_range("requested_at"))
        .exclude(status=OrderStatus.CANCELLED)
        .annotate(month=TruncMonth("requested_at"))
    )


def _critical_values(window: Window) -> QuerySet:
    return CriticalValue.objects.filter(window.datetime_range("raised_at")).annotate(month=TruncMonth("raised_at"))


def _recognition_decisions(window: Window) -> QuerySet:
    return RecognitionDecision.objects.filter(window.datetime_range("decided_at")).annotate(month=TruncMonth("decided_at"))


#: The resident populations an indicator is split by: all residents, rural and urban (the home institution's flag).
POPULATIONS = (("", None), ("_rural", True), ("_urban", False))


def _of_population(rural: bool | None, path: str = "patient__home_institution") -> Q:
    """The facts of the residents of one population (all of them when ``rural`` is None)."""
    return Q() if rural is None else Q(**{f"{path}__is_rural": rural})


def _insurer_out_of_county(window: Window) -> QuerySet:
    """Residents' visits outside the county from the insurer's settlement data (linked residents only)."""
    return OutOfCountyVisit.objects.filter(
        visit_date__gte=window.first, visit_date__lt=window.end, patient__isnull=False
    ).annotate(month=TruncMonth("visit_date"))


_IN_COUNTY = Q(institution__region_code=F("patient__home_institution__region_code"))
_INPATIENT = Q(kind=EncounterKind.INPATIENT)
#: What the basic insurance fund paid for a claim: the approved amount once adjudicated, else the calculated one.
_FUND_PAID = Sum(Coalesce("approved_amount", "reimbursed"))


def _at_home(path: str = "patient__home_institution") -> dict:
    """The attribution of a fact to the home institution at ``path``: itself, its township centre, its consortia."""
    return {"institution": (F(path),), "township": TownshipOf(path), "member": F(path)}


def _county_indicators() -> list[Indicator]:
    """The counts and fund amounts behind the county rates, attributed to the resident's home institution.

    Each comes for all residents and for rural and urban residents (``_rural``/``_urban``)."""
    home = _at_home()
    count = {**home, "numerator": Count("pk"), "denominator": Count("pk")}
    indicators = []
    for suffix, rural in POPULATIONS:
        residents = _of_population(rural)
        for inpatient, prefix in ((False, "visits"), (True, "admissions")):
            kind = _INPATIENT if inpatient else Q()
            indicators += [
                Indicator(f"{prefix}_in_county{suffix}", "count", _encounters, where=residents & kind & _IN_COUNTY, **count),
                Indicator(
                    f"{prefix}_out_of_county_members{suffix}",
                    "count",
                    _encounters,
                    where=residents & kind & ~_IN_COUNTY,
                    **count,
                ),
                Indicator(
                    f"{prefix}_out_of_county_insurer{suffix}",
                    "count",
                    _insurer_out_of_county,
                    where=residents & (Q(inpatient=True) if inpatient else Q()),
                    **count,
                ),
            ]
        money = {**home, "numerator": _FUND_PAID, "denominator": Count("pk")}
        indicators += [
            Indicator(f"fund_in_county{suffix}", "sum", _effective_claims, where=residents & _IN_COUNTY, **money),
            Indicator(f"fund_out_of_county_members{suffix}", "sum", _effective_claims, where=residents & ~_IN_COUNTY, **money),
            Indicator(
                f"fund_out_of_county_insurer{suffix}",
                "sum",
                _insurer_out_of_county,
                where=residents,
                **{**money, "numerator": Sum("fund_paid")},
            ),
            Indicator(f"fund_primary{suffix}", "sum", _effective_claims, where=residents & Q(level__in=PRIMARY), **money),
            Indicator(
                f"primary_visit_share{suffix}",
                "ratio",
                _encounters,
                where=residents,
                institution=(F("patient__home_institution"),),
                township=TownshipOf("patient__home_institution"),
                member=F("institution"),
                numerator=Count("pk", filter=Q(institution__level__in=PRIMARY)),
                denominator=Count("pk"),
            ),
        ]
    return indicators


def _county_rates() -> dict:
    """The derived county rates, for all, rural and urban residents: rate -> (numerators, denominators)."""
    derived = {}
    for suffix, _rural in POPULATIONS:
        for rate, prefix in (("in_county_visit_rate", "visits"), ("in_county_inpatient_rate", "admissions")):
            derived[f"{rate}{suffix}"] = (
                (f"{prefix}_in_county{suffix}",),
                tuple(f"{prefix}_{where}{suffix}" for where in ("in_county", "out_of_county_members", "out_of_county_insurer")),
            )
        spent = tuple(f"fund_{where}{suffix}" for where in ("in_county", "out_of_county_members", "out_of_county_insurer"))
        derived[f"fund_in_county_share{suffix}"] = ((f"fund_in_county{suffix}",), spent)
        derived[f"fund_primary_share{suffix}"] = ((f"fund_primary{suffix}",), spent)
    return derived


def _duration(end: str, start: str):
    return ExpressionWrapper(F(end) - F(start), output_field=DurationField())


_REFERRAL_ENDS = (F("from_institution"), F("to_institution"))
_REFERRAL_TOWNSHIP = _primary_end(TownshipOf("from_institution"), TownshipOf("to_institution"))
_REFERRAL_MEMBER = F("from_institution")


def _claim_indicators() -> list[Indicator]:
    indicators = []
    for rural, suffix in ((True, "rural"), (False, "urban")):
        common = {
            "facts": _effective_claims,
            "where": _of_population(rural),
            "institution": (F("institution"),),
            "township": TownshipOf("patient__home_institution"),
            "member": F("institution"),
            "denominator": Sum("total"),
        }
        indicators.append(Indicator(f"reimbursement_ratio_{suffix}", "ratio", numerator=Sum("reimbursed"), **common))
        indicators.append(Indicator(f"self_pay_share_{suffix}", "ratio", numerator=Sum("self_pay"), **common))
    return indicators


def _chronic_follow_ups(window: Window) -> QuerySet:
    """Chronic-care follow-ups done in the months (chronic/): each judged controlled or not by its programme version."""
    return ChronicFollowUp.objects.filter(
        status=ChronicFollowUpStatus.DONE, done_on__gte=window.first, done_on__lt=window.end
    ).annotate(month=TruncMonth("done_on"))


def _last_chronic_follow_ups(window: Window) -> QuerySet:
    """Of each enrolment's follow-ups done in a month, the last one (latest date, then the latest recorded)."""
    later = (
        ChronicFollowUp.objects.filter(enrolment=OuterRef("enrolment"), status=ChronicFollowUpStatus.DONE)
        .annotate(done_month=TruncMonth("done_on"))
        .filter(done_month=OuterRef("month"))
        .filter(Q(done_on__gt=OuterRef("done_on")) | Q(done_on=OuterRef("done_on"), pk__gt=OuterRef("pk")))
    )
    return _chronic_follow_ups(window).exclude(Exists(later))


def as_of(window: Window) -> datetime.date:
    """The day a snapshot of a month is taken: its last day, or today for the current month."""
    return min(window.end - datetime.timedelta(days=1), window.today)


def _snapshot_month(window: Window, facts: QuerySet) -> QuerySet:
    return facts.annotate(month=Value(window.first, output_field=DateField()))


def _enrolled(window: Window) -> QuerySet:
    """Enrolments on a register at the end of the month: enrolled by then, and not left the programme before it ended."""
    day = as_of(window)
    after = window.aware(day + datetime.timedelta(days=1))
    on_register = Q(status=ChronicEnrolmentStatus.ENROLLED) | Q(status=ChronicEnrolmentStatus.DISCHARGED, decided_at__gte=after)
    return _snapshot_month(window, ChronicEnrolment.objects.filter(on_register, enrolled_on__lte=day))


def follow_up_thresholds(minimum: int = NATIONAL_MINIMUM_VISITS) -> list[tuple[int, int]]:
    """``(days enrolled, follow-ups required)`` steps of ``chronic.rules.required_follow_ups``, the highest first.

    The rule is ``min(365, days) * minimum // 365``: it reaches ``k`` once the enrolment is
    ``ceil(k * 365 / minimum)`` days old.
    """
    return [(-(-k * 365 // minimum), k) for k in range(minimum, 0, -1)]


def required_follow_ups_case(day: datetime.date, minimum: int = NATIONAL_MINIMUM_VISITS):
    """``chronic.rules.required_follow_ups(enrolled_on, day)`` as a SQL expression of ``enrolled_on`` (a CASE of the steps)."""
    whens = [
        When(enrolled_on__lte=day - datetime.timedelta(days=days), then=Value(k)) for days, k in follow_up_thresholds(minimum)
    ]
    return Case(*whens, default=Value(0), output_field=BigIntegerField())


def _standardised(window: Window) -> QuerySet:
    """Enrolments at the month's end with their face-to-face follow-ups in the year up to it and the number required."""
    day = as_of(window)
    done = (
        ChronicFollowUp.objects.filter(
            enrolment=OuterRef("pk"),
            status=ChronicFollowUpStatus.DONE,
            method__in=[ChronicFollowUpMethod.CLINIC, ChronicFollowUpMethod.HOME],
            done_on__gt=day - datetime.timedelta(days=365),
            done_on__lte=day,
        )
        .values("enrolment")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return _enrolled(window).annotate(
        done_in_year=Coalesce(Subquery(done, output_field=BigIntegerField()), Value(0)),
        required=required_follow_ups_case(day),
    )


def _residents(window: Window) -> QuerySet:
    """Registered residents at the month's end."""
    day = as_of(window)
    residents = Patient.objects.filter(merged_into__isnull=True, created_at__lt=window.aware(day + datetime.timedelta(days=1)))
    return _snapshot_month(window, residents)


def _contracted(window: Window) -> QuerySet:
    """Registered residents' places on a family-doctor contract in force at the month's end.

    Their own facts, not an EXISTS per resident in the residents' statement: a correlated subquery
    keeps PostgreSQL from reading the residents in parallel, and alone it read the province's eight
    million in home-institution order through the index (10 s at 16 counties, 0.2 s at one).
    """
    day = as_of(window)
    places = ChronicContract.members.through.objects.filter(
        contract__starts_on__lte=day,
        contract__ends_on__gt=day,
        patient__merged_into__isnull=True,
        patient__created_at__lt=window.aware(day + datetime.timedelta(days=1)),
    ).exclude(contract__status=ChronicContractStatus.ENDED)
    return _snapshot_month(window, places)


def _chronic_admissions(window: Window) -> QuerySet:
    """Admissions of patients who were on a chronic-disease register when admitted (慢病患者住院)."""
    on_register = ChronicEnrolment.objects.filter(patient=OuterRef("patient"), enrolled_on__lte=OuterRef("_admitted_on")).filter(
        Q(status=ChronicEnrolmentStatus.ENROLLED)
        | Q(status=ChronicEnrolmentStatus.DISCHARGED, decided_at__gt=OuterRef("started_at"))
    )
    admissions = _encounters(window).filter(kind=EncounterKind.INPATIENT).annotate(_admitted_on=TruncDate("started_at"))
    return admissions.filter(Exists(on_register))


def _completed_chronic_referral():
    """An upward referral sent from the follow-up's visit (the one-click proposal) that has been completed."""
    return Exists(
        Referral.objects.filter(source_encounter=OuterRef("encounter"), direction=Direction.UP, status=ReferralStatus.COMPLETED)
    )


def _chronic_indicators() -> list[Indicator]:
    """Chronic care (chronic/): per programme, the enrolled patients, the standardised management rate
    (规范管理率) and the control rate (血压控制率 / 血糖控制率, by each patient's last follow-up of the month),
    rural and urban patients side by side; the referrals the triggers proposed and those completed;
    family-doctor contract coverage of the registered residents. docs/INDICATORS.md gives the formulas."""
    common = {
        "institution": (F("enrolment__institution"),),
        "township": TownshipOf("enrolment__institution"),
        "member": F("enrolment__institution"),
        "denominator": Count("pk"),
    }
    enrolment = {
        "institution": (F("institution"),),
        "township": TownshipOf("institution"),
        "member": F("institution"),
        "denominator": Count("pk"),
        "snapshot": True,
    }
    indicators = []
    for programme, prefix in (("hypertension", "bp"), ("diabetes", "glucose")):
        indicators.append(
            Indicator(
                f"{programme}_enrolled",
                "count",
                lambda w, p=programme: _enrolled(w).filter(programme__code=p),
                numerator=Count("pk"),
                **enrolment,
            )
        )
        for rural, suffix in ((True, "rural"), (False, "urban")):
            indicators.append(
                Indicator(
                    f"{prefix}_control_rate_{suffix}",
                    "ratio",
                    lambda w, p=programme, r=rural: _last_chronic_follow_ups(w).filter(
                        enrolment__programme__code=p, enrolment__patient__home_institution__is_rural=r
                    ),
                    numerator=Count("pk", filter=Q(control="controlled")),
                    **common,
                )
            )
            indicators.append(
                Indicator(
                    f"{prefix}_standardised_rate_{suffix}",
                    "ratio",
                    lambda w, p=programme, r=rural: _standardised(w).filter(
                        programme__code=p, patient__home_institution__is_rural=r
                    ),
                    numerator=Count("pk", filter=Q(done_in_year__gte=F("required"))),
                    **enrolment,
                )
            )
    indicators.append(
        Indicator(
            "chronic_referrals_triggered",
            "count",
            lambda w: _chronic_follow_ups(w).exclude(trigger=""),
            numerator=Count("pk"),
            **common,
        )
    )
    indicators.append(
        Indicator(
            "chronic_referrals_completed",
            "count",
            lambda w: _chronic_follow_ups(w).exclude(trigger="").filter(_completed_chronic_referral()),
            numerator=Count("pk"),
            **common,
        )
    )
    indicators.append(
        Indicator(
            "chronic_admissions",
            "count",
            _chronic_admissions,
            numerator=Count("pk"),
            denominator=Count("pk"),
            **_at_home(),
        )
    )
    for rural, suffix in ((True, "rural"), (False, "urban")):  # contract coverage: their ratio (DERIVED)
        for code, facts, home, counted in (
            ("residents_registered", _residents, "home_institution", Count("pk")),
            ("residents_contracted", _contracted, "patient__home_institution", Count("patient", distinct=True)),
        ):
            indicators.append(
                Indicator(
                    f"{code}_{suffix}",
                    "count",
                    facts,
                    numerator=counted,
                    denominator=counted,
                    where=_of_population(rural, home),
                    snapshot=True,
                    **_at_home(home),
                )
            )
    return indicators


INDICATORS: list[Indicator] = [
    Indicator(
        "referrals_up",
        "count",
        lambda w: _submitted_referrals(w).filter(direction=Direction.UP),
        institution=_REFERRAL_ENDS,
        township=TownshipOf("from_institution"),
        member=_REFERRAL_MEMBER,
        numerator=Count("pk"),
        denominator=Count("pk"),
    ),
    Indicator(
        "referrals_down",
        "count",
        lambda w: _submitted_referrals(w).filter(direction=Direction.DOWN),
        institution=_REFERRAL_ENDS,
        township=TownshipOf("to_institution"),
        member=_REFERRAL_MEMBER,
        numerator=Count("pk"),
        denominator=Count("pk"),
    ),
    Indicator(
        "decision_hours",
        "median",
        lambda w: _submitted_referrals(w).filter(decided_at__isnull=False, status__in=DECIDED),
        institution=(F("to_institution"),),
        township=_REFERRAL_TOWNSHIP,
        member=_REFERRAL_MEMBER,
        duration=_duration("decided_at", "submitted_at"),
    ),
    Indicator(
        "appointment_hours",
        "median",
        lambda w: _submitted_referrals(w).filter(appointment_at__isnull=False, status__in=ACCEPTED),
        institution=(F("to_institution"),),
        township=_REFERRAL_TOWNSHIP,
        member=_REFERRAL_MEMBER,
        duration=_duration("appointment_at", "submitted_at"),
    ),
    Indicator(
        "acceptance_rate",
        "ratio",
        lambda w: _submitted_referrals(w).filter(status__in=DECIDED),
        institution=(F("to_institution"),),
        township=_REFERRAL_TOWNSHIP,
        member=_REFERRAL_MEMBER,
        numerator=Count("pk", filter=Q(status__in=ACCEPTED)),
        denominator=Count("pk"),
    ),
    Indicator(
        "follow_up_completion",
        "ratio",
        _follow_ups,
        institution=(F("referral__to_institution"),),
        township=TownshipOf("referral__to_institution"),
        member=F("referral__to_institution"),
        numerator=Count("pk", filter=Q(status=FollowUpStatus.DONE)),
        denominator=Count("pk"),
    ),
    *_claim_indicators(),
    *_county_indicators(),
    *_chronic_indicators(),
    Indicator(
        "discrepancy_rate",
        "ratio",
        _latest_discrepancies,
        institution=(F("run__institution"),),
        township=TownshipOf("run__institution"),
        member=F("run__institution"),
        numerator=Count("pk", filter=~Q(kind=DiscrepancyKind.MATCHED)),
        denominator=Count("pk"),
    ),
    Indicator(
        "sync_lag_minutes",
        "median",
        _deliveries,
        institution=(F("event__institution"),),
        township=TownshipOf("event__institution"),
        member=F("event__institution"),
        duration=_duration("delivered_at", "event__created_at"),
    ),
    Indicator(
        "dx_turnaround_hours",
        "median",
        _reported_orders,
        institution=(F("centre__institution"),),
        township=TownshipOf("ordering_institution"),
        member=F("ordering_institution"),
        duration=_duration("reported_at", "requested_at"),
    ),
    Indicator(
        "dx_turnaround_p90_hours",
        "p90",
        _reported_orders,
        institution=(F("centre__institution"),),
        township=TownshipOf("ordering_institution"),
        member=F("ordering_institution"),
        duration=_duration("reported_at", "requested_at"),
    ),
    Indicator(
        "dx_studies",
        "count",
        _requested_orders,
        institution=(F("centre__institution"), F("ordering_institution")),
        township=TownshipOf("ordering_institution"),
        member=F("ordering_institution"),
        numerator=Count("pk"),
        denominator=Count("pk"),
    ),
    Indicator(
        "dx_critical_in_time",
        "ratio",
        _critical_values,
        institution=(F("order__ordering_institution"),),
        township=TownshipOf("order__ordering_institution"),
        member=F("order__ordering_institution"),
        numerator=Count("pk", filter=Q(acknowledged_at__isnull=False, acknowledged_at__lte=F("ack_due_at"))),
        denominator=Count("pk"),
    ),
    Indicator(
        "dx_recognition_rate",
        "ratio",
        _recognition_decisions,
        institution=(F("institution"),),
        township=TownshipOf("institution"),
        member=F("institution"),
        numerator=Count("pk", filter=Q(recognised=True)),
        denominator=Count("pk"),
    ),
    Indicator(
        "satisfaction",
        "mean",
        _ratings,
        institution=(F("referral__to_institution"),),
        township=_primary_end(
            TownshipOf("referral__from_institution"), TownshipOf("referral__to_institution"), "referral__direction"
        ),
        member=F("referral__from_institution"),
        numerator=Sum("score"),
        denominator=Count("pk"),
    ),
]
#: Indicators derived from two others after the roll-up: code -> (numerator indicator, denominator indicator).
#: A derived value is the sum of its numerator indicators over the sum of its denominator indicators.
DERIVED = {
    "up_down_ratio": (("referrals_up",), ("referrals_down",)),
    **{f"contract_coverage_{s}": ((f"residents_contracted_{s}",), (f"residents_registered_{s}",)) for s in ("rural", "urban")},
    **_county_rates(),
}
DURATION_UNIT_SECONDS = {
    "decision_hours": 3600,
    "appointment_hours": 3600,
    "sync_lag_minutes": 60,
    "dx_turnaround_hours": 3600,
    "dx_turnaround_p90_hours": 3600,
}

Key = tuple[str, int, datetime.date]  # (scope, scope_id, month)


def _within(aggregate, where: Q | None):
    """``aggregate`` over the rows ``where`` lets through, on top of its own filter."""
    if not where:
        return aggregate
    _path, args, kwargs = aggregate.deconstruct()
    own = kwargs.get("filter")
    return type(aggregate)(*args, **{**kwargs, "filter": where if own is None else where & own})


Groups = dict[str, dict[tuple, tuple[Decimal, Decimal]]]  # scope -> (scope id, month) -> (numerator, denominator)


def _add(into: dict, group: tuple, n, d) -> None:
    before = into.get(group, (Decimal(0), Decimal(0)))
    into[group] = (before[0] + Decimal(n or 0), before[1] + Decimal(d or 0))


def _sums(facts: QuerySet, indicators: list[Indicator], consortia: dict, centre: dict) -> dict[str, Groups]:
    """Each indicator's (numerator, denominator) per scope and (scope id, month): one pass over ``facts``.

    The facts are grouped by every key the indicators attribute them by at once (an institution,
    a township centre, the member institution of the consortium scope), and each scope's sums are
    the sums of those groups over its key: counts and sums add up across groups. The consortium
    scope is summed here from each member institution's consortia, not by joining the memberships,
    which would repeat the facts once per membership of each key. An indicator with a ``where``
    reads its rows through conditional aggregates, and has a group only where one of its rows is.
    A township centre is grouped by the institution it is the centre of (``TownshipOf``). One
    statement for the visits' fifteen indicators (45 read apart, each a scan of the year's facts
    joined to every resident), one for the claims' thirteen (39)."""
    keys: list = []  # distinct expressions, each a column of the GROUP BY

    def column(expression) -> str:
        for j, known in enumerate(keys):
            if known == expression:
                return f"_k{j}"
        keys.append(expression)
        return f"_k{len(keys) - 1}"

    consortia_of: dict[int, list[int]] = {}
    for consortium_id, members in consortia.items():
        for institution in members:
            consortia_of.setdefault(institution, []).append(consortium_id)

    def itself(scope_id) -> tuple:
        return (scope_id,)

    def its_centre(institution) -> tuple:
        return (centre[institution],) if centre.get(institution) else ()

    def its_consortia(institution) -> list:
        return consortia_of.get(institution, [])

    attributions = []  # (indicator number, scope, key column, the scope ids of a key's value)
    aggregates = {}
    for i, indicator in enumerate(indicators):
        attributions += [(i, ScopeKind.INSTITUTION, column(expression), itself) for expression in indicator.institution]
        if isinstance(indicator.township, TownshipOf):
            attributions.append((i, ScopeKind.TOWNSHIP, column(F(indicator.township.path)), its_centre))
        else:
            attributions.append((i, ScopeKind.TOWNSHIP, column(indicator.township), itself))
        if consortia:
            attributions.append((i, ScopeKind.CONSORTIUM, column(indicator.member), its_consortia))
        aggregates[f"_n{i}"] = _within(indicator.numerator, indicator.where)
        aggregates[f"_d{i}"] = _within(indicator.denominator, indicator.where)
        if indicator.where:
            aggregates[f"_c{i}"] = Count("pk", filter=indicator.where)
    columns = {f"_k{j}": expression for j, expression in enumerate(keys)}
    rows = facts.annotate(**columns).values(*columns, "month").annotate(**aggregates).order_by()
    sums: dict[str, Groups] = {indicator.code: {scope: {} for scope in ScopeKind.values} for indicator in indicators}
    for row in rows:
        month = month_key(row["month"])
        for i, scope, key, scope_ids in attributions:
            if row[key] is None or not row.get(f"_c{i}", 1):
                continue
            into, n, d = sums[indicators[i].code][scope], row[f"_n{i}"], row[f"_d{i}"]
            for scope_id in scope_ids(row[key]):
                _add(into, (scope_id, month), n, d)
    return sums


def _seconds(value) -> float:
    """A duration from the database: an interval (PostgreSQL) or microseconds (SQLite)."""
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return float(value) / 1_000_000


def _medians(facts: QuerySet, key, indicator: Indicator) -> dict[tuple, tuple[Decimal, Decimal]]:
    """Median duration per (key, month) in one statement: the middle row(s) by ROW_NUMBER() over each group.

    For a ``p90`` indicator the same statement takes the nearest-rank 90th percentile instead: the
    first row whose rank reaches 90% of the group (``rn * 10 >= n * 9``)."""
    inner = (
        facts.annotate(_key=key, _dur=indicator.duration)
        .filter(_key__isnull=False, _dur__isnull=False)
        .values("_key", "month", "_dur")
        .order_by()
    )
    sql, params = inner.query.sql_with_params()
    if indicator.kind == "p90":
        pick, rows = "MIN(v)", "rn * 10 >= n * 9"
    else:
        pick, rows = "AVG(v)", "rn IN ((n + 1) / 2, (n + 2) / 2)"
    statement = f"""
        WITH d AS ({sql}),
        r AS (
            SELECT "_key" AS k, "month" AS m, "_dur" AS v,
                   ROW_NUMBER() OVER (PARTITION BY "_key", "month" ORDER BY "_dur") AS rn,
                   COUNT(*) OVER (PARTITION BY "_key", "month") AS n
            FROM d
        )
        SELECT k, m, {pick}, MAX(n) FROM r WHERE {rows} GROUP BY k, m
    """  # noqa: S608 (the inner SQL is Django's own, with parameters)
    unit = DURATION_UNIT_SECONDS[indicator.code]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return {
            (k, month_key(m)): (quantize(_seconds(v) / unit), Decimal(n)) for k, m, v, n in cursor.fetchall() if v is not None
        }


def _value(kind: str, numerator: Decimal, denominator: Decimal) -> Decimal | None:
    if kind in ("count", "sum", "median", "p90"):
        return quantize(numerator)
    return quantize(numerator / denominator) if denominator else None


def _scope_keys(indicator: Indicator, consortia: dict) -> list[tuple[str, object]]:
    """The (scope, key expression) pairs a median's facts are grouped by, a statement each.

    Every consortium in one key: each fact joined to the memberships of its member institution and
    grouped by their consortium.  A statement per consortium, each filtering the window's facts of
    all consortia by membership, made the work grow with consortia x facts (bench/scale)."""
    keys = [(ScopeKind.INSTITUTION, expression) for expression in indicator.institution]
    keys.append((ScopeKind.TOWNSHIP, indicator.township))
    if consortia:
        keys.append((ScopeKind.CONSORTIUM, _consortium_of(indicator.member)))
    return keys


def _scope_groups(indicators: list[Indicator], facts: QuerySet, consortia: dict, centre: dict) -> dict[str, Groups]:
    """Each indicator's (numerator, denominator) per scope and (scope id, month), from the facts they share.

    ``centre``: each institution's township centre (``townships``)."""
    if indicators[0].kind not in MEDIANS:
        return _sums(facts, indicators, consortia, centre)
    (indicator,) = indicators
    groups: Groups = {scope: {} for scope in ScopeKind.values}
    for scope, key in _scope_keys(indicator, consortia):
        for group, (n, d) in _medians(facts, key, indicator).items():
            _add(groups[scope], group, n, d)
    return {indicator.code: groups}


def _batches(indicators: list[Indicator]) -> list[list[Indicator]]:
    """The indicators read together: those of one ``facts`` function (a median has its statements to itself)."""
    batches: dict[object, list[Indicator]] = {}
    for indicator in indicators:
        batches.setdefault(indicator.code if indicator.kind in MEDIANS else indicator.facts, []).append(indicator)
    return list(batches.values())


def _consortium_of(member: F) -> F:
    """The consortium of each membership of the institution ``member`` names (one row per membership)."""
    return F(f"{member.name}__memberships__consortium")


def random_page_cost() -> float:
    """``DASHBOARD_ROLLUP_RANDOM_PAGE_COST``: the price of a random read while the month's events are read."""
    cost = float(getattr(settings, "DASHBOARD_ROLLUP_RANDOM_PAGE_COST", 1.1))
    if not 0 < cost < 1e10:  # PostgreSQL's range for random_page_cost (0 only makes every read free)
        raise ImproperlyConfigured(f"DASHBOARD_ROLLUP_RANDOM_PAGE_COST must be a positive number, not {cost!r}")
    return cost


@contextlib.contextmanager
def _random_reads_priced_low():
    """Random reads priced as on an SSD or a cached store while the window's events are read.

    A month's visits or claims are a small share of their table, and each needs its resident:
    priced this way (``DASHBOARD_ROLLUP_RANDOM_PAGE_COST``, PostgreSQL's own default is 4), the
    planner finds them through the primary key, a lookup per fact, instead of hashing the month
    and probing it with every resident of the province, which grew with the residents rather than
    the month (2.5 s against 1.2 s a statement at 16 counties). The residents' snapshots read
    every resident anyway and keep the server's price: with the low one they went through the
    home-institution index, twice as slow as a scan. PostgreSQL, inside the caller's transaction.
    """
    if connection.vendor != "postgresql" or not connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('random_page_cost', %s, true)", [str(random_page_cost())])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL random_page_cost TO DEFAULT")


def compute(first: datetime.date, last: datetime.date, today: datetime.date | None = None) -> dict[tuple, dict]:
    """Every indicator for every scope and month from ``first``'s month to ``last``'s month.

    Returns ``{(indicator, scope, scope_id, month): {"numerator", "denominator", "value"}}``.
    """
    window = Window(month_start(first), next_month(last), today or timezone.localdate())
    consortia = {
        c.pk: frozenset(Membership.objects.filter(consortium=c).values_list("institution", flat=True))
        for c in Consortium.objects.all()
    }
    centre = townships()
    results: dict[tuple, dict] = {}
    for batch in _batches(INDICATORS):
        if batch[0].snapshot:  # one state per month: the facts of each month's window
            months = [m for m in months_between(window.first, window.end - datetime.timedelta(days=1)) if m <= window.today]
            groups: dict[str, Groups] = {indicator.code: {} for indicator in batch}
            for month in months:
                facts = batch[0].facts(Window(month, next_month(month), window.today))
                for code, scopes in _scope_groups(batch, facts, consortia, centre).items():
                    for scope, values in scopes.items():
                        groups[code].setdefault(scope, {}).update(values)
        else:
            with _random_reads_priced_low():
                groups = _scope_groups(batch, batch[0].facts(window), consortia, centre)
        for indicator in batch:
            for scope, values in groups[indicator.code].items():
                for (scope_id, month), (n, d) in values.items():
                    results[(indicator.code, scope, scope_id, month)] = {
                        "numerator": quantize(n),
                        "denominator": quantize(d),
                        "value": _value(indicator.kind, n, d),
                    }
    results.update(township_coverage(window, consortia))
    results.update(seconded_physicians(window, consortia))
    for code, (ups, downs) in DERIVED.items():
        keys = {key[1:] for key in results if key[0] in (*ups, *downs)}
        for scope, scope_id, month in keys:
            n = sum((results.get((c, scope, scope_id, month), {}).get("numerator", Decimal(0)) for c in ups), Decimal(0))
            d = sum((results.get((c, scope, scope_id, month), {}).get("numerator", Decimal(0)) for c in downs), Decimal(0))
            results[(code, scope, scope_id, month)] = {"numerator": n, "denominator": d, "value": _value("ratio", n, d)}
    return results


def seconded_physicians(window: Window, consortia: dict[int, frozenset]) -> dict[tuple, dict]:
    """Physicians seconded to each receiving institution (and its township, and the consortium) per month.

    A secondment counts in every month it covers at least one day of (``starts_on`` before the month's
    end, ``ends_on`` empty or not before its first day): one GROUP BY per month of the window.
    """
    results: dict[tuple, dict] = {}

    def put(scope, scope_id, month, n):
        n = Decimal(n)
        results[("seconded_physicians", scope, scope_id, month)] = {
            "numerator": quantize(n),
            "denominator": quantize(n),
            "value": quantize(n),
        }

    for month in months_between(window.first, window.end - datetime.timedelta(days=1)):
        active = (
            Secondment.objects.filter(starts_on__lt=next_month(month))
            .exclude(ends_on__lt=month)
            .annotate(_township=TownshipOf("to_institution"))
        )
        by_township: dict[int, int] = {}
        by_consortium: dict[int, int] = {}
        for institution, township, n in active.values_list("to_institution", "_township").annotate(n=Count("pk")).order_by():
            put(ScopeKind.INSTITUTION, institution, month, n)
            if township is not None:
                by_township[township] = by_township.get(township, 0) + n
            for consortium_id, members in consortia.items():
                if institution in members:
                    by_consortium[consortium_id] = by_consortium.get(consortium_id, 0) + n
        for township, n in by_township.items():
            put(ScopeKind.TOWNSHIP, township, month, n)
        for consortium_id, n in by_consortium.items():
            put(ScopeKind.CONSORTIUM, consortium_id, month, n)
    return results


def township_coverage(window: Window, consortia: dict[int, frozenset]) -> dict[tuple, dict]:
    """The share of a consortium's township health centres served by its shared centres in each month.

    A township is served in a month when it, or a village clinic under it, ordered at least one study
    (not cancelled) from a shared centre of that kind; ``dx_township_coverage`` counts any kind. One
    DISTINCT query over the month's orders; the denominator is the consortium's member townships.
    """
    townships = {
        c: frozenset(
            Institution.objects.filter(pk__in=members, level=InstitutionLevel.TOWNSHIP_HEALTH_CENTRE).values_list("pk", flat=True)
        )
        for c, members in consortia.items()
    }
    served: dict[tuple[int, str, datetime.date], set[int]] = {}
    rows = (
        _requested_orders(window)
        .annotate(_township=TownshipOf("ordering_institution"))
        .filter(_township__isnull=False)
        .values_list("centre__consortium", "centre__kind", "month", "_township")
        .distinct()
        .order_by()
    )
    for consortium_id, kind, month, township in rows:
        if township in townships.get(consortium_id, ()):
            for code in ("dx_township_coverage", f"dx_township_coverage_{kind}"):
                served.setdefault((consortium_id, code, month_key(month)), set()).add(township)
    results = {}
    for (consortium_id, code, month), ids in served.items():
        n, d = Decimal(len(ids)), Decimal(len(townships[consortium_id]))
        results[(code, ScopeKind.CONSORTIUM, consortium_id, month)] = {
            "numerator": quantize(n),
            "denominator": quantize(d),
            "value": _value("ratio", n, d),
        }
    return results


def fund_months(first: datetime.date, last: datetime.date) -> dict[tuple[int, datetime.date], dict]:
    """Fund transparency per institution and month: spending from effective claims, outcomes of the latest runs."""
    window = Window(month_start(first), next_month(last), timezone.localdate())
    rows: dict[tuple[int, datetime.date], dict] = {}
    claims = (
        _effective_claims(window)
        .values("institution", "period")
        .annotate(
            claims=Count("pk"),
            total_charges=Sum("total"),
            reimbursed=Sum("reimbursed"),
            self_pay=Sum("self_pay"),
            settled=Sum("settled_amount"),
        )
        .order_by()
    )
    for row in claims:
        key = (row["institution"], month_key(row["period"]))
        total = row["total_charges"] or Decimal("0.00")
        rows[key] = {
            "claims": row["claims"],
            "total_charges": total,
            "reimbursed": row["reimbursed"] or Decimal("0.00"),
            "self_pay": row["self_pay"] or Decimal("0.00"),
            "settled": row["settled"] or Decimal("0.00"),
            "reimbursement_ratio": quantize(row["reimbursed"] / total) if total else None,
        }
    outcomes = (
        _latest_discrepancies(window)
        .values("run__institution", "run__period")
        .annotate(
            reconciled_claims=Count("pk"),
            matched=Count("pk", filter=Q(kind=DiscrepancyKind.MATCHED)),
            discrepancies=Count("pk", filter=~Q(kind=DiscrepancyKind.MATCHED)),
            open_discrepancies=Count("pk", filter=~Q(kind=DiscrepancyKind.MATCHED) & Q(status="open")),
        )
        .order_by()
    )
    for row in outcomes:
        key = (row["run__institution"], month_key(row["run__period"]))
        rows.setdefault(key, {}).update(
            {k: row[k] for k in ("reconciled_claims", "matched", "discrepancies", "open_discrepancies")}
        )
    return rows
