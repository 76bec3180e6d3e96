"""Writes of the consortium fund: every step is one posted ledger entry (or several), audited.

Posting is the insurance office's (the adjudication right at the consortium's lead institution, and
the fund's own office); freezing performance scores is the consortium administrator's (the
membership right). A posted entry is never changed: ``reverse_fund_entry`` posts its negation.
"""

from decimal import Decimal

from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from consortium.errors import Conflict, Invalid, NotPermitted
from consortium.models import Consortium
from consortium.permissions import SYSTEM, Action, require
from consortium.services import record_audit_event

from . import fund as arithmetic
from .audit import InsuranceAudit
from .fund_selectors import lead_institution, member_paid, members_of, outside_paid, prepaid_total
from .models import ConsortiumFund, FundEntry, FundEntryKind, PerformanceScore, PerformanceSnapshot, Scheme
from .selectors import office_of

ZERO = Decimal("0.00")


def _require_fund_office(actor, fund_or_consortium, office) -> None:
    consortium = fund_or_consortium if isinstance(fund_or_consortium, Consortium) else fund_or_consortium.consortium
    lead = lead_institution(consortium)
    if lead is None:
        raise Invalid(_("The consortium has no lead institution."), field="consortium", code="no_lead")
    require(actor, Action.ADJUDICATE_CLAIMS, lead)
    if actor is not SYSTEM and office_of(actor) != office:
        raise NotPermitted(_("Only the insurance office of the fund can post to it."))


def _user(actor):
    return actor if getattr(actor, "pk", None) and actor is not SYSTEM else None


def _post(
    fund: ConsortiumFund,
    *,
    actor,
    kind: str,
    amount: Decimal,
    period: str = "",
    institution=None,
    detail=None,
    note="",
    reverses=None,
):
    sequence = (fund.entries.aggregate(s=Max("sequence"))["s"] or 0) + 1
    entry = FundEntry.objects.create(
        fund=fund,
        sequence=sequence,
        kind=kind,
        period=period,
        institution=institution,
        amount=amount,
        reverses=reverses,
        detail=detail or {},
        note=note[:200],
        posted_by=_user(actor),
    )
    record_audit_event(
        actor=actor,
        action=InsuranceAudit.FUND_ENTRY_REVERSED if reverses else InsuranceAudit.FUND_ENTRY_POSTED,
        obj=entry,
        institution=institution,
        detail={"fund": fund.pk, "kind": kind, "period": period, "amount": str(amount), "sequence": sequence},
    )
    return entry


def _locked(fund: ConsortiumFund) -> ConsortiumFund:
    return ConsortiumFund.objects.select_for_update().select_related("consortium", "scheme", "office").get(pk=fund.pk)


def _check_period(fund: ConsortiumFund, period: str) -> int:
    if len(period) != 7 or period[4] != "-" or not period[:4].isdigit() or not period[5:].isdigit():
        raise Invalid(_("A period is a month written YYYY-MM, e.g. 2026-03."), field="period", code="bad_period")
    year, month = int(period[:4]), int(period[5:])
    if year != fund.year or not 1 <= month <= 12:
        raise Invalid(
            _("The period %(period)s is not a month of the fund's year %(year)s.") % {"period": period, "year": fund.year},
            field="period",
            code="period_outside_year",
        )
    return month


def _effective(fund: ConsortiumFund, kind: str, **filters):
    return fund.entries.filter(kind=kind, reversal__isnull=True, **filters)


def create_fund(
    *,
    consortium: Consortium,
    scheme: Scheme,
    year: int,
    office,
    budget: Decimal,
    actor,
    overspend_tolerance=None,
    insurer_overspend_share=None,
) -> ConsortiumFund:
    """Open a consortium's fund for a scheme year with its agreed budget (the ledger's first entry)."""
    with transaction.atomic():
        _require_fund_office(actor, consortium, office)
        if budget is None or budget <= 0:
            raise Invalid(_("The budget must be above 0."), field="budget", code="bad_budget")
        if ConsortiumFund.objects.filter(consortium=consortium, scheme=scheme, year=year).exists():
            raise Conflict(_("This consortium already has a fund for that scheme and year."), field="year", code="fund_exists")
        fund = ConsortiumFund(consortium=consortium, scheme=scheme, year=year, office=office, budget=arithmetic.to_fen(budget))
        if overspend_tolerance is not None:
            fund.overspend_tolerance = overspend_tolerance
        if insurer_overspend_share is not None:
            fund.insurer_overspend_share = insurer_overspend_share
        for name in ("overspend_tolerance", "insurer_overspend_share"):
            if not Decimal(0) <= getattr(fund, name) <= Decimal(1):
                raise Invalid(_("A share is a fraction between 0 and 1."), field=name, code="bad_share")
        fund.save()
        record_audit_event(
            actor=actor, action=InsuranceAudit.FUND_CREATED, obj=fund, detail={"year": year, "budget": str(fund.budget)}
        )
        _post(fund, actor=actor, kind=FundEntryKind.BUDGET, amount=fund.budget, detail={"budget": str(fund.budget)})
    return fund


def post_prepayment(*, fund: ConsortiumFund, period: str, amount: Decimal, actor) -> FundEntry:
    """The insurer's monthly prepayment to the consortium (one standing prepayment per month)."""
    with transaction.atomic():
        fund = _locked(fund)
        _require_fund_office(actor, fund, fund.office)
        _check_period(fund, period)
        if amount is None or amount <= 0:
            raise Invalid(_("A prepayment must be above 0."), field="amount", code="bad_amount")
        if _effective(fund, FundEntryKind.PREPAYMENT, period=period).exists():
            raise Conflict(
                _("The prepayment of %(period)s is already posted; reverse it to correct it.") % {"period": period},
                field="period",
                code="prepayment_exists",
            )
        return _post(fund, actor=actor, kind=FundEntryKind.PREPAYMENT, amount=arithmetic.to_fen(amount), period=period)


def settle_month(*, fund: ConsortiumFund, period: str, actor) -> FundEntry:
    """The monthly provisional settlement: fund paid to date against the budget to date, members' shares."""
    with transaction.atomic():
        fund = _locked(fund)
        _require_fund_office(actor, fund, fund.office)
        month = _check_period(fund, period)
        if _effective(fund, FundEntryKind.PROVISIONAL, period=period).exists():
            raise Conflict(
                _("The provisional settlement of %(period)s is already posted; reverse it to settle again.") % {"period": period},
                field="period",
                code="settlement_exists",
            )
        paid = member_paid(fund, period)
        result = arithmetic.provisional(fund.budget, month, paid, outside_paid(fund, period))
        prepaid = prepaid_total(fund, period)
        detail = {
            "month": month,
            "budget_to_date": str(result.budget_to_date),
            "fund_paid": str(result.fund_paid),
            "outside_paid": str(result.outside_paid),
            "balance": str(result.balance),
            "prepaid_to_date": str(prepaid),
            "members": {str(k): {"paid": str(paid[k]), "share": str(result.shares[k])} for k in sorted(paid)},
        }
        return _post(fund, actor=actor, kind=FundEntryKind.PROVISIONAL, amount=result.fund_paid, period=period, detail=detail)


def freeze_performance(*, fund: ConsortiumFund, scores: dict, actor, note: str = "") -> PerformanceSnapshot:
    """Freeze the members' performance scores (0–100) the surplus split will use."""
    with transaction.atomic():
        fund = _locked(fund)
        lead = lead_institution(fund.consortium)
        require(actor, Action.MANAGE_MEMBERSHIPS, lead)
        members = {m.pk: m for m in members_of(fund)}
        errors = {}
        for institution_id, score in scores.items():
            if institution_id not in members:
                errors[str(institution_id)] = [_("Not a member of the consortium.")]
            elif score is None or not Decimal(0) <= Decimal(score) <= Decimal(100):
                errors[str(institution_id)] = [_("A score is between 0 and 100.")]
        missing = sorted(set(members) - set(scores))
        for institution_id in missing:
            errors[str(institution_id)] = [_("Give a score for every member.")]
        if errors:
            raise Invalid(_("Some scores are not valid."), field="scores", code="bad_scores", errors=errors)
        snapshot = PerformanceSnapshot.objects.create(fund=fund, taken_by=_user(actor), note=note[:200])
        PerformanceScore.objects.bulk_create(
            PerformanceScore(snapshot=snapshot, institution_id=k, score=Decimal(v).quantize(Decimal("0.01")))
            for k, v in sorted(scores.items())
        )
        record_audit_event(
            actor=actor,
            action=InsuranceAudit.PERFORMANCE_FROZEN,
            obj=snapshot,
            detail={"fund": fund.pk, "scores": {str(k): str(v) for k, v in sorted(scores.items())}},
        )
    return snapshot


def clearing_of(fund: ConsortiumFund, snapshot: PerformanceSnapshot | None):
    """The year-end figures and the surplus split as they stand now (no write)."""
    paid = member_paid(fund, f"{fund.year}-12")
    outside = outside_paid(fund, f"{fund.year}-12")
    result = arithmetic.clearing(
        fund.budget,
        sum(paid.values(), ZERO) + outside,
        prepaid_total(fund, f"{fund.year}-12"),
        fund.overspend_tolerance,
        fund.insurer_overspend_share,
    )
    scores = {s.institution_id: s.score for s in snapshot.scores.all()} if snapshot is not None else {}
    shares = arithmetic.split_surplus(result.surplus, scores) if scores and result.surplus > 0 else {}
    return result, shares, paid


def preview_clearing(*, fund: ConsortiumFund, actor, snapshot: PerformanceSnapshot | None = None):
    """A dry run of the year-end clearing: the figures and split, audited, nothing posted."""
    lead = lead_institution(fund.consortium)
    require(actor, Action.VIEW_CLAIMS, lead)
    snapshot = snapshot or fund.snapshots.first()
    with transaction.atomic():
        result, shares, _paid = clearing_of(fund, snapshot)
        record_audit_event(
            actor=actor,
            action=InsuranceAudit.FUND_CLEARING_PREVIEWED,
            obj=fund,
            detail={
                "surplus": str(result.surplus),
                "overspend": str(result.overspend),
                "snapshot": getattr(snapshot, "pk", None),
            },
        )
    return result, shares, snapshot


def clear_year(*, fund: ConsortiumFund, actor, snapshot: PerformanceSnapshot | None = None) -> list[FundEntry]:
    """Post the year-end clearing and, with a surplus, each member's share by the frozen scores."""
    with transaction.atomic():
        fund = _locked(fund)
        _require_fund_office(actor, fund, fund.office)
        if _effective(fund, FundEntryKind.CLEARING).exists():
            raise Conflict(_("The year is already cleared; reverse the clearing to clear again."), field="fund", code="cleared")
        snapshot = snapshot or fund.snapshots.first()
        result, shares, paid = clearing_of(fund, snapshot)
        if result.surplus > 0 and not shares:
            raise Invalid(
                _("Freeze the members' performance scores before clearing a surplus."), field="snapshot", code="no_snapshot"
            )
        detail = {
            **result.as_detail(),
            "snapshot": getattr(snapshot, "pk", None),
            "members_paid": {str(k): str(v) for k, v in sorted(paid.items())},
            "outside_paid": str(result.fund_paid - sum(paid.values(), ZERO)),
        }
        entries = [
            _post(
                fund, actor=actor, kind=FundEntryKind.CLEARING, amount=result.balance_due, period=f"{fund.year}-12", detail=detail
            )
        ]
        members = {m.pk: m for m in members_of(fund)}
        for institution_id, share in sorted(shares.items()):
            entries.append(
                _post(
                    fund,
                    actor=actor,
                    kind=FundEntryKind.SURPLUS_SHARE,
                    amount=share,
                    institution=members.get(institution_id),
                    detail={"clearing": entries[0].sequence, "snapshot": snapshot.pk},
                )
            )
    return entries


def reverse_fund_entry(*, entry: FundEntry, actor, reason: str) -> FundEntry:
    """Cancel a posted entry by a new entry with the negated amount (a clearing takes its surplus shares with it)."""
    if not reason.strip():
        raise Invalid(_("Give a reason for the reversal."), field="reason", code="reason_required")
    with transaction.atomic():
        fund = _locked(entry.fund)
        _require_fund_office(actor, fund, fund.office)
        entry = FundEntry.objects.get(pk=entry.pk)
        if entry.kind in (FundEntryKind.REVERSAL, FundEntryKind.BUDGET) or FundEntry.objects.filter(reverses=entry).exists():
            raise Conflict(
                _("This entry cannot be reversed (a reversal, the budget, or already reversed)."),
                field="entry",
                code="not_reversible",
            )
        targets = [entry]
        if entry.kind == FundEntryKind.CLEARING:
            targets += list(
                _effective(fund, FundEntryKind.SURPLUS_SHARE).filter(detail__clearing=entry.sequence).order_by("sequence")
            )
        reversal = None
        for target in targets:
            made = _post(
                fund,
                actor=actor,
                kind=FundEntryKind.REVERSAL,
                amount=-target.amount,
                period=target.period,
                institution=target.institution,
                detail={"reverses": target.sequence, "kind": target.kind},
                note=reason.strip(),
                reverses=target,
            )
            reversal = reversal or made
    return reversal
