"""Reads of the consortium fund: members, what the fund paid, the ledger, the supervision signals."""

import datetime
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, TruncMonth

from consortium.models import Institution, Membership, MembershipRole
from consortium.permissions import Action, can
from referrals.models import Direction, Referral, ReferralStatus

from .models import Claim, ConsortiumFund, FundEntry, FundEntryKind, OutOfCountyVisit, effective_claim

ZERO = Decimal("0.00")


def lead_institution(consortium) -> Institution | None:
    membership = (
        Membership.objects.select_related("institution")
        .filter(consortium=consortium, role=MembershipRole.LEAD)
        .order_by("pk")
        .first()
    )
    return membership.institution if membership is not None else None


def members_of(fund: ConsortiumFund) -> list[Institution]:
    ids = Membership.objects.filter(consortium=fund.consortium_id).values("institution_id")
    return list(Institution.objects.filter(pk__in=ids).order_by("code"))


def member_claims(fund: ConsortiumFund, through: str):
    """Effective claims of the fund's scheme at member institutions, January to ``through`` (YYYY-MM).

    The members as a list of ids: the planner then reads the claims once.
    """
    ids = list(Membership.objects.filter(consortium=fund.consortium_id).values_list("institution_id", flat=True))
    return Claim.objects.filter(
        effective_claim(),
        scheme=fund.scheme_id,
        institution__in=ids,
        period__gte=f"{fund.year}-01",
        period__lte=through,
    )


def member_paid(fund: ConsortiumFund, through: str) -> dict[int, Decimal]:
    """What basic insurance paid each member up to ``through``: one GROUP BY over the claims."""
    rows = (
        member_claims(fund, through)
        .values("institution")
        .annotate(paid=Sum(Coalesce("approved_amount", "reimbursed")))
        .order_by()
    )
    return {row["institution"]: Decimal(row["paid"] or ZERO).quantize(ZERO) for row in rows}


def outside_paid(fund: ConsortiumFund, through: str) -> Decimal:
    """What the fund's office paid for the consortium's residents outside the county, January to ``through``.

    The office's own settlement data (``OutOfCountyVisit``) of the fund's scheme, for residents whose
    home institution is a member; the global budget covers them wherever they were treated.
    """
    year, month = int(through[:4]), int(through[5:7])
    end = datetime.date(year + (month == 12), month % 12 + 1, 1)
    ids = Membership.objects.filter(consortium=fund.consortium_id).values("institution_id")
    total = OutOfCountyVisit.objects.filter(
        office=fund.office_id,
        scheme=fund.scheme_id,
        patient__home_institution__in=ids,
        visit_date__gte=datetime.date(fund.year, 1, 1),
        visit_date__lt=end,
    ).aggregate(s=Sum("fund_paid"))["s"]
    return Decimal(total or ZERO).quantize(ZERO)


def prepaid_total(fund: ConsortiumFund, through: str) -> Decimal:
    prepayments = FundEntry.objects.filter(fund=fund, kind=FundEntryKind.PREPAYMENT, period__lte=through)
    reversed_ = FundEntry.objects.filter(
        fund=fund, kind=FundEntryKind.REVERSAL, reverses__kind=FundEntryKind.PREPAYMENT, period__lte=through
    )
    total = (prepayments.aggregate(s=Sum("amount"))["s"] or ZERO) + (reversed_.aggregate(s=Sum("amount"))["s"] or ZERO)
    return Decimal(total).quantize(ZERO)


def funds_visible_to(user):
    """Funds whose consortium's lead institution the user may see claims of (officers of the region, the administrator)."""
    funds = ConsortiumFund.objects.select_related("consortium", "scheme", "office").order_by("-year", "consortium__code")
    return [f for f in funds if (lead := lead_institution(f.consortium)) is not None and can(user, Action.VIEW_CLAIMS, lead)]


def ledger(fund: ConsortiumFund):
    return fund.entries.select_related("institution", "reverses").order_by("sequence")


def latest_provisional(fund: ConsortiumFund) -> FundEntry | None:
    return fund.entries.filter(kind=FundEntryKind.PROVISIONAL, reversal__isnull=True).order_by("-period", "-sequence").first()


def supervision_signals(fund: ConsortiumFund, through: str) -> dict:
    """The signs the fund-supervision guidance warns about, month by month, from the member claims.

    Per month: inpatient admissions (claims with an admission number), cost per admission, the
    self-pay share of all charges. A sign is raised when, over the last three months against the
    three before: admissions fall while the cost per admission rises (case splitting avoided,
    costlier cases kept); or the self-pay share rises (costs shifted to the patient).
    And when upward referrals from members to institutions outside the consortium rise.
    """
    ids = Membership.objects.filter(consortium=fund.consortium_id).values("institution_id")
    referrals_out = {
        f"{row['month']:%Y-%m}": row["n"]
        for row in Referral.objects.filter(from_institution__in=ids, direction=Direction.UP, submitted_at__year=fund.year)
        .exclude(to_institution__in=ids)
        .exclude(status=ReferralStatus.CANCELLED)
        .annotate(month=TruncMonth("submitted_at"))
        .values("month")
        .annotate(n=Count("pk"))
        .order_by()
        if row["month"] is not None
    }
    rows = (
        member_claims(fund, through)
        .values("period")
        .annotate(
            admissions=Count("pk", filter=Q(admission_number__isnull=False)),
            inpatient_total=Sum("total", filter=Q(admission_number__isnull=False)),
            total=Sum("total"),
            patient_pays=Sum("patient_pays"),
        )
        .order_by("period")
    )
    months = []
    for row in rows:
        admissions = row["admissions"] or 0
        total = row["total"] or ZERO
        months.append(
            {
                "period": row["period"],
                "admissions": admissions,
                "cost_per_admission": (row["inpatient_total"] or ZERO) / admissions if admissions else None,
                "self_pay_share": (row["patient_pays"] or ZERO) / total if total else None,
                "referrals_out": referrals_out.get(row["period"], 0),
            }
        )
    signs = []
    if len(months) >= 6:
        last, before = months[-3:], months[-6:-3]

        def mean(items, key):
            values = [m[key] for m in items if m[key] is not None]
            return sum(values) / len(values) if values else None

        if sum(m["admissions"] for m in last) < sum(m["admissions"] for m in before):
            cost_last, cost_before = mean(last, "cost_per_admission"), mean(before, "cost_per_admission")
            if cost_last is not None and cost_before is not None and cost_last > cost_before:
                signs.append("admissions_down_cost_up")
        share_last, share_before = mean(last, "self_pay_share"), mean(before, "self_pay_share")
        if share_last is not None and share_before is not None and share_last > share_before:
            signs.append("self_pay_up")
        if sum(m["referrals_out"] for m in last) > sum(m["referrals_out"] for m in before):
            signs.append("referrals_out_up")
    return {"months": months, "signs": signs}
