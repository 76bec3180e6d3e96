"""The reimbursement calculator: a pure function of charge lines, policy numbers and the year so far.

Steps, in order (money rounded to the fen with ROUND_HALF_UP where marked *):

1. total = sum of line amounts (amounts are already in fen).
2. per line: class A (甲) is fully eligible; class B (乙) eligible = amount × (1 − self-pay share) *;
   class C (丙) is not eligible. The rest of each line is the patient's class self-pay.
3. eligible = sum of line eligible amounts.
4. deductible remaining = max(0, level deductible − deductible credited), where the credited amount is
   the deductible paid this year (continuous deductible), or nothing for an unreferred visit above the
   patient's home level unless the policy says to credit it.
5. deductible applied = min(eligible, deductible remaining).
6. ratio = the level's ratio, or its lower unreferred ratio for an unreferred visit above home level.
7. computed = (eligible − deductible applied) × ratio *.
8. ceiling remaining = max(0, level annual ceiling − reimbursed this year).
9. reimbursed = min(computed, ceiling remaining).
10. self-pay = total − reimbursed.
"""

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext_lazy as _

FEN = Decimal("0.01")
ZERO = Decimal("0.00")


def to_fen(value: Decimal) -> Decimal:
    """Round to the fen, half up (0.005 → 0.01)."""
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ChargeLine:
    item_code: str
    name: str
    catalogue_class: str
    amount: Decimal


@dataclass(frozen=True)
class LevelTerms:
    deductible: Decimal
    ratio: Decimal
    unreferred_ratio: Decimal
    annual_ceiling: Decimal
    class_b_self_pay_share: Decimal
    unreferred_deductible_carried: bool = False


@dataclass(frozen=True)
class YearSoFar:
    deductible_paid: Decimal = ZERO
    reimbursed: Decimal = ZERO


@dataclass(frozen=True)
class LineResult:
    line: ChargeLine
    class_self_pay: Decimal
    eligible: Decimal


@dataclass
class Calculation:
    total: Decimal
    eligible: Decimal
    deductible_remaining: Decimal
    deductible_applied: Decimal
    ratio: Decimal
    computed: Decimal
    ceiling_remaining: Decimal
    reimbursed: Decimal
    self_pay: Decimal
    lines: list[LineResult] = field(default_factory=list)

    def steps(self) -> list[dict]:
        """The steps as stored on the claim and printed for the patient (labels are message ids)."""
        return [
            {"key": "total", "amount": str(self.total)},
            {"key": "class_self_pay", "amount": str(self.total - self.eligible)},
            {"key": "eligible", "amount": str(self.eligible)},
            {"key": "deductible_remaining", "amount": str(self.deductible_remaining)},
            {"key": "deductible_applied", "amount": str(self.deductible_applied)},
            {"key": "ratio", "amount": str(self.ratio)},
            {"key": "computed", "amount": str(self.computed)},
            {"key": "ceiling_remaining", "amount": str(self.ceiling_remaining)},
            {"key": "reimbursed", "amount": str(self.reimbursed)},
            {"key": "self_pay", "amount": str(self.self_pay)},
        ]


STEP_LABELS = {
    "total": _("1. Total charges"),
    "class_self_pay": _("2. Not eligible (class B self-pay share and class C items)"),
    "eligible": _("3. Eligible amount"),
    "deductible_remaining": _("4. Deductible still to pay this year at this level"),
    "deductible_applied": _("5. Deductible applied to this claim"),
    "ratio": _("6. Reimbursement ratio"),
    "computed": _("7. (Eligible − deductible) × ratio, rounded to the fen"),
    "ceiling_remaining": _("8. Annual ceiling still available"),
    "reimbursed": _("9. Reimbursed by insurance"),
    "self_pay": _("10. Paid by the patient"),
    "reversal_of": _("Reversal of claim"),
}


def line_eligible(line: ChargeLine, class_b_self_pay_share: Decimal) -> LineResult:
    if line.catalogue_class == "A":
        eligible = line.amount
    elif line.catalogue_class == "B":
        eligible = to_fen(line.amount * (Decimal(1) - class_b_self_pay_share))
    else:
        eligible = ZERO
    return LineResult(line=line, class_self_pay=line.amount - eligible, eligible=eligible)


def calculate(lines: list[ChargeLine], terms: LevelTerms, so_far: YearSoFar, *, upward: bool, referred: bool) -> Calculation:
    """Calculate a claim; ``upward`` means the visit is above the patient's home institution level."""
    total = sum((line.amount for line in lines), ZERO)
    results = [line_eligible(line, terms.class_b_self_pay_share) for line in lines]
    eligible = sum((r.eligible for r in results), ZERO)
    unreferred_upward = upward and not referred
    credited = so_far.deductible_paid if (not unreferred_upward or terms.unreferred_deductible_carried) else ZERO
    deductible_remaining = max(ZERO, terms.deductible - credited)
    deductible_applied = min(eligible, deductible_remaining)
    ratio = terms.unreferred_ratio if unreferred_upward else terms.ratio
    computed = to_fen((eligible - deductible_applied) * ratio)
    ceiling_remaining = max(ZERO, terms.annual_ceiling - so_far.reimbursed)
    reimbursed = min(computed, ceiling_remaining)
    return Calculation(
        total=total,
        eligible=eligible,
        deductible_remaining=deductible_remaining,
        deductible_applied=deductible_applied,
        ratio=ratio,
        computed=computed,
        ceiling_remaining=ceiling_remaining,
        reimbursed=reimbursed,
        self_pay=total - reimbursed,
        lines=results,
    )
