"""The consortium fund's arithmetic: pure functions of the agreement's numbers and the year's figures.

Monthly provisional settlement (``provisional``), for month m of the year:

1. budget to date = budget × m / 12 *;
2. fund paid to date = what basic insurance paid for claims at member institutions up to month m
   (effective claims: the approved amount once adjudicated, else the calculated one), plus what it
   paid for the consortium's residents outside the county (the office's settlement data): a global
   budget covers the residents wherever they are treated;
3. balance = budget to date − fund paid to date (positive: under budget so far);
4. each member's share of what was paid at members = its paid amount / the members' total (four places).

Year-end clearing (``clearing``):

1. fund paid = the whole year's figure (as step 2 above: at members and outside the county);
2. surplus = max(0, budget − fund paid) — kept by the consortium (结余留用);
3. overspend = max(0, fund paid − budget); its reasonable part = min(overspend, budget × tolerance) *;
   the insurer bears the reasonable part × its share *, the consortium the rest (合理超支分担);
4. the insurer owes for the year = budget + the insurer's part of the overspend; less the
   prepayments made, the clearing balance is what the insurer still pays (negative: repaid).

Surplus split (``split_surplus``): each member's weight is its frozen performance score; the
surplus in fen is shared by the largest-remainder method (Hamilton): every member first gets the
floor of its exact share to the fen, then the fen left over go one each to the largest remainders
(ties to the lower member key), so the shares always add up to the surplus to the fen. Members with
a zero score get nothing; if every score is zero the surplus is shared equally.

Money is Decimal, rounded half up to the fen where marked *.
"""

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
FOUR = Decimal("0.0001")


def to_fen(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def largest_remainder(total: Decimal, weights: dict) -> dict:
    """``total`` (in fen, not negative) shared by ``weights`` so the shares add up to it exactly."""
    if total < 0:
        raise ValueError("total must not be negative")
    keys = sorted(weights)
    if not keys:
        return {}
    if sum((weights[k] for k in keys), Decimal(0)) <= 0:
        weights = dict.fromkeys(keys, Decimal(1))
    weight_sum = sum((weights[k] for k in keys), Decimal(0))
    fen_total = int((total / FEN).to_integral_value())
    exact = {k: Decimal(fen_total) * weights[k] / weight_sum for k in keys}
    floors = {k: int(exact[k].to_integral_value(rounding=ROUND_DOWN)) for k in keys}
    left = fen_total - sum(floors.values())
    by_remainder = sorted(keys, key=lambda k: (-(exact[k] - floors[k]), keys.index(k)))
    for k in by_remainder[:left]:
        floors[k] += 1
    return {k: Decimal(floors[k]) * FEN for k in keys}


@dataclass(frozen=True)
class Provisional:
    month: int
    budget_to_date: Decimal
    fund_paid: Decimal
    balance: Decimal
    shares: dict  # member -> share of what was paid at members (four places)
    outside_paid: Decimal = ZERO  # paid for the residents outside the county


def provisional(budget: Decimal, month: int, member_paid: dict, outside_paid: Decimal = ZERO) -> Provisional:
    if not 1 <= month <= 12:
        raise ValueError("month must be 1..12")
    if outside_paid < 0:
        raise ValueError("outside_paid must not be negative")
    budget_to_date = to_fen(budget * month / 12)
    at_members = sum(member_paid.values(), ZERO)
    fund_paid = at_members + outside_paid
    shares = {
        k: (v / at_members).quantize(FOUR, rounding=ROUND_HALF_UP) if at_members else Decimal("0.0000")
        for k, v in member_paid.items()
    }
    return Provisional(month, budget_to_date, fund_paid, budget_to_date - fund_paid, shares, outside_paid)


@dataclass(frozen=True)
class Clearing:
    budget: Decimal
    fund_paid: Decimal
    surplus: Decimal
    overspend: Decimal
    reasonable_overspend: Decimal
    insurer_overspend: Decimal
    consortium_overspend: Decimal
    insurer_owes: Decimal
    prepaid: Decimal
    balance_due: Decimal

    def as_detail(self) -> dict:
        return {name: str(getattr(self, name)) for name in self.__dataclass_fields__}


def clearing(budget: Decimal, fund_paid: Decimal, prepaid: Decimal, tolerance: Decimal, insurer_share: Decimal) -> Clearing:
    surplus = max(ZERO, budget - fund_paid)
    overspend = max(ZERO, fund_paid - budget)
    reasonable = min(overspend, to_fen(budget * tolerance))
    insurer_part = to_fen(reasonable * insurer_share)
    insurer_owes = budget + insurer_part
    return Clearing(
        budget=budget,
        fund_paid=fund_paid,
        surplus=surplus,
        overspend=overspend,
        reasonable_overspend=reasonable,
        insurer_overspend=insurer_part,
        consortium_overspend=overspend - insurer_part,
        insurer_owes=insurer_owes,
        prepaid=prepaid,
        balance_due=insurer_owes - prepaid,
    )


def split_surplus(surplus: Decimal, scores: dict) -> dict:
    """Each member's share of the surplus by its frozen score (largest remainder, to the fen)."""
    return largest_remainder(surplus, scores)
