"""Reads of the insurance app, every one scoped through consortium.permissions."""

import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from consortium.models import StaffRole
from consortium.permissions import SYSTEM, Action, scope, staff_of
from records.models import Encounter

from .models import (
    Claim,
    ClaimBatch,
    ClaimKind,
    Discrepancy,
    OfficeScheme,
    PeriodClose,
    ReasonCode,
    ReconciliationRun,
    SettlementFile,
)


def office_of(user):
    """The insurance office the user (or API token) acts for, or None."""
    staff = staff_of(user)
    if staff is None or staff.role != StaffRole.INSURANCE_OFFICER:
        return None
    return staff.insurance_office


def _scheme_filter(queryset: QuerySet, user, field: str = "scheme") -> QuerySet:
    """An insurance office sees only the schemes it administers."""
    office = office_of(user)
    if office is None:
        return queryset
    schemes = OfficeScheme.objects.filter(office=office).values("scheme_id")
    return queryset.filter(**{f"{field}__in": schemes})


def claims_visible_to(user, action: Action = Action.VIEW_CLAIMS) -> QuerySet[Claim]:
    queryset = Claim.objects.select_related("institution", "scheme", "batch", "reverses", "policy", "encounter", "patient")
    return _scheme_filter(scope(queryset, user, action), user)


def batches_visible_to(user) -> QuerySet[ClaimBatch]:
    queryset = ClaimBatch.objects.select_related("institution", "scheme")
    return _scheme_filter(scope(queryset, user, Action.VIEW_CLAIMS), user)


def settlement_files_of(user) -> QuerySet[SettlementFile]:
    office = office_of(user)
    if office is None:
        return SettlementFile.objects.none()
    return SettlementFile.objects.filter(office=office)


def runs_visible_to(user) -> QuerySet[ReconciliationRun]:
    queryset = ReconciliationRun.objects.select_related("institution", "office", "settlement_file")
    office = office_of(user)
    if office is not None:
        queryset = queryset.filter(office=office)
    return scope(queryset, user, Action.REVIEW_RECONCILIATION)


def discrepancies_of(run, *, kind: str | None = None, status: str | None = None) -> QuerySet[Discrepancy]:
    queryset = run.discrepancies.select_related("claim", "line").order_by("kind", "claim_number", "pk")
    if kind:
        queryset = queryset.filter(kind=kind)
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def run_totals(run) -> list[dict]:
    """Per kind: how many, expected, paid and difference, summed in SQL."""
    return runs_totals([run.pk]).get(run.pk, [])


def runs_totals(run_ids) -> dict[int, list[dict]]:
    """:func:`run_totals` of several runs in one query, by run id."""
    rows = (
        Discrepancy.objects.filter(run_id__in=run_ids)
        .values("run_id", "kind")
        .annotate(
            count=Count("pk"),
            expected=Sum("expected_amount"),
            paid=Sum("paid_amount"),
            difference=Sum("difference"),
            open=Count("pk", filter=Q(status="open")),
        )
        .order_by("run_id", "kind")
    )
    totals: dict[int, list[dict]] = {}
    for row in rows:
        totals.setdefault(row.pop("run_id"), []).append(_to_fen(row))
    return totals


_FEN = Decimal("0.01")


def _to_fen(row: dict) -> dict:
    """Sums to the fen: SQLite adds decimals as floats, so its sums carry binary noise below a fen."""
    for key in ("expected", "paid", "difference"):
        if row.get(key) is not None:
            row[key] = Decimal(row[key]).quantize(_FEN, rounding=ROUND_HALF_UP)
    return row


def latest_runs(runs: QuerySet[ReconciliationRun]) -> QuerySet[ReconciliationRun]:
    """The most recent run of each office, institution and period among ``runs`` (offices never supersede each other)."""
    latest_ids = runs.values("office_id", "institution_id", "period").annotate(latest=Max("pk")).values("latest")
    return runs.filter(pk__in=latest_ids)


def institution_totals(runs: QuerySet[ReconciliationRun]) -> list[dict]:
    """Per institution and period over the given runs: expected, paid and open discrepancies."""
    rows = (
        Discrepancy.objects.filter(run__in=runs)
        .values("run__institution__code", "run__institution__name", "run__period")
        .annotate(
            expected=Sum("expected_amount"),
            paid=Sum("paid_amount"),
            difference=Sum("difference"),
            open=Count("pk", filter=Q(status="open")),
        )
        .order_by("run__period", "run__institution__code")
    )
    return [_to_fen(row) for row in rows]


def is_period_closed(institution_id: int, period: str, *, office=None, scheme_id: int | None = None) -> bool:
    """Whether ``office`` closed the period (with ``scheme_id``: an office administering that scheme;
    with neither: any office)."""
    closes = PeriodClose.objects.filter(institution_id=institution_id, period=period)
    if office is not None:
        closes = closes.filter(office=office)
    if scheme_id is not None:
        closes = closes.filter(office__in=OfficeScheme.objects.filter(scheme_id=scheme_id).values("office_id"))
    return closes.exists()


def claimable_encounters(user, days: int = 90):
    """Recent visits at institutions where the user may create claims, that have no claim standing."""
    standing = Claim.objects.filter(encounter=OuterRef("pk"), kind=ClaimKind.ORIGINAL, reversal__isnull=True)
    since = timezone.now() - datetime.timedelta(days=days)
    queryset = Encounter.objects.filter(started_at__gte=since).select_related("patient", "institution")
    return scope(queryset, user, Action.CREATE_CLAIM).exclude(Exists(standing)).order_by("-started_at")


def usable_reason_codes(user) -> set[str]:
    """The active reason codes ``user`` may name: the platform's set and the user's own office's codes
    (the platform itself, ``SYSTEM``, may name any office's)."""
    codes = ReasonCode.objects.filter(active=True)
    if user is not SYSTEM:
        office = office_of(user)
        codes = (
            codes.filter(Q(office__isnull=True) | Q(office=office)) if office is not None else codes.filter(office__isnull=True)
        )
    return set(codes.values_list("code", flat=True))
