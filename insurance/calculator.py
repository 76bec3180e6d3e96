"""The reimbursement calculator: pure functions of charge lines, policy numbers and the year so far.

``calculate`` is the basic-insurance layer at one institution level; ``settle`` is the one-stop
settlement (一站式结算) of a claim through the three layers. Money is rounded to the fen with
ROUND_HALF_UP where marked *; every other step is exact.

Basic layer (``calculate`` / ``basic_layer``), in order:

1. total = sum of line amounts (amounts are already in fen).
2. per line: class A (甲) is fully eligible; class B (乙) eligible = amount × (1 − self-pay share) *;
   class C (丙) is not eligible. The rest of each line is the patient's class self-pay.
3. eligible = sum of line eligible amounts.
4. the benefit: an inpatient stay, or an outpatient visit of an enrolled chronic/special-disease
   patient (门诊慢特病) where the policy has that layer, or outpatient pooling (门诊统筹) where the policy
   has it; otherwise the level rules apply to the visit as to a stay (a policy without those layers).
   deductible remaining:
   * inpatient, deductible per admission: the level's deductible, or its lower deductible for a later
     admission of the year where the policy gives one, less the deductible of the referring level for a
     referral inside the county (continuous deductible: the patient pays only the difference);
   * level rules with a yearly deductible: level deductible − deductible paid this year, where the paid
     amount is not credited to an unreferred visit above the home level unless the policy says so;
   * outpatient pooling: its small yearly deductible − what was paid of it this year;
   * chronic/special disease: none.
5. deductible applied = min(eligible, deductible remaining).
6. ratio = the level's ratio, or its lower unreferred ratio for an unreferred visit above home level,
   less the out-of-county reduction for an unreferred visit outside the patient's county (never below 0);
   outpatient pooling: its primary-level ratio at a village clinic or township centre, its other ratio
   elsewhere; chronic/special disease: its ratio.
7. computed = (eligible − deductible applied) × ratio *.
8. ceiling remaining = max(0, ceiling − paid of it this year): the scheme year's one ceiling across all
   levels where the policy sets it (else the level's own), the pooling cap, or the special-disease cap.
9. reimbursed = min(computed, ceiling remaining).
10. self-pay = total − reimbursed.

Further layers (``settle``), after the basic layer:

11. qualifying self-pay (合规自付) = eligible − reimbursed: what the patient pays of the covered amount.
12. critical-illness insurance (大病保险), for stays and special-disease visits: the year's qualifying
    self-pay runs from Q (before this claim) to Q + q; the part above the yearly threshold is cut into
    the policy's segments (a segment starts at an amount above the threshold and runs to the next) and
    each part is paid at its segment's ratio; paid = min(Σ part × ratio *, annual cap − paid this year).
13. medical assistance (医疗救助), for a patient of a registered group (特困, 低保, 低收入, 返贫监测):
    paid = min((qualifying self-pay − critical illness) × the group's ratio *, the group's cap − paid this year).
14. patient pays = total − reimbursed − critical illness − medical assistance.

No layer pays more than the eligible amount left after the layers before it; the patient never pays
a negative amount.
"""

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext_lazy as _

FEN = Decimal("0.01")
ZERO = Decimal("0.00")


def to_fen(value: Decimal) -> Decimal:
    """Round to the fen, half up (0.005 → 0.01)."""
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


class Benefit:
    """Which basic-insurance benefit a claim was paid under (stored on the claim)."""

    LEVEL = "level"
    INPATIENT = "inpatient"
    OUTPATIENT_POOL = "outpatient_pool"
    SPECIAL_DISEASE = "special_disease"


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
    later_admission_deductible: Decimal | None = None


@dataclass(frozen=True)
class OutpatientTerms:
    """Outpatient pooling (门诊统筹): a small yearly deductible, ratios and a yearly cap per person."""

    deductible: Decimal
    primary_ratio: Decimal
    other_ratio: Decimal
    annual_cap: Decimal


@dataclass(frozen=True)
class SpecialDiseaseTerms:
    """Chronic and special-disease outpatient (门诊慢特病) for enrolled patients."""

    ratio: Decimal
    annual_cap: Decimal


@dataclass(frozen=True)
class IllnessTerms:
    """Critical-illness insurance (大病保险): threshold, segments as (start above threshold, ratio), cap."""

    threshold: Decimal
    segments: tuple[tuple[Decimal, Decimal], ...]
    annual_cap: Decimal | None = None


@dataclass(frozen=True)
class AssistanceTerms:
    """Medical assistance (医疗救助) of one registered group."""

    group: str
    ratio: Decimal
    annual_cap: Decimal


@dataclass(frozen=True)
class Benefits:
    """Everything a policy version says that applies to one claim."""

    level: LevelTerms
    deductible_per_admission: bool = False
    annual_ceiling: Decimal | None = None
    out_of_county_reduction: Decimal = ZERO
    outpatient: OutpatientTerms | None = None
    special_disease: SpecialDiseaseTerms | None = None
    illness: IllnessTerms | None = None
    assistance: AssistanceTerms | None = None


@dataclass(frozen=True)
class Visit:
    inpatient: bool = False
    upward: bool = False
    referred: bool = False
    out_of_county: bool = False
    primary_level: bool = False
    special_disease: bool = False
    #: For an in-county referral: the deductible of the referring institution's level.
    referring_deductible: Decimal | None = None


@dataclass(frozen=True)
class YearSoFar:
    deductible_paid: Decimal = ZERO
    reimbursed: Decimal = ZERO
    admissions: int = 0
    outpatient_deductible_paid: Decimal = ZERO
    outpatient_reimbursed: Decimal = ZERO
    special_reimbursed: Decimal = ZERO
    illness_qualifying: Decimal = ZERO
    illness_paid: Decimal = ZERO
    assistance_paid: Decimal = ZERO


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
    benefit: str = Benefit.LEVEL

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


@dataclass
class Statement:
    """The one-stop settlement of a claim: the basic layer, critical illness, medical assistance."""

    basic: Calculation
    qualifying: Decimal
    illness_paid: Decimal
    assistance_paid: Decimal
    patient_pays: Decimal
    assistance_group: str = ""

    @property
    def layers_paid(self) -> Decimal:
        return self.basic.reimbursed + self.illness_paid + self.assistance_paid

    def steps(self) -> list[dict]:
        return [
            {"key": "benefit", "amount": self.basic.benefit},
            *self.basic.steps(),
            {"key": "qualifying", "amount": str(self.qualifying)},
            {"key": "illness_paid", "amount": str(self.illness_paid)},
            {"key": "assistance_paid", "amount": str(self.assistance_paid)},
            {"key": "patient_pays", "amount": str(self.patient_pays)},
        ]


STEP_LABELS = {
    "benefit": _("Benefit"),
    "total": _("1. Total charges"),
    "class_self_pay": _("2. Not eligible (class B self-pay share and class C items)"),
    "eligible": _("3. Eligible amount"),
    "deductible_remaining": _("4. Deductible still to pay"),
    "deductible_applied": _("5. Deductible applied to this claim"),
    "ratio": _("6. Reimbursement ratio"),
    "computed": _("7. (Eligible − deductible) × ratio, rounded to the fen"),
    "ceiling_remaining": _("8. Annual ceiling still available"),
    "reimbursed": _("9. Reimbursed by basic insurance"),
    "self_pay": _("10. Left after basic insurance"),
    "qualifying": _("11. Qualifying self-pay (eligible − basic insurance)"),
    "illness_paid": _("12. Paid by critical-illness insurance"),
    "assistance_paid": _("13. Paid by medical assistance"),
    "patient_pays": _("14. Paid by the patient"),
    "reversal_of": _("Reversal of claim"),
}

BENEFIT_LABELS = {
    Benefit.LEVEL: _("Level rules"),
    Benefit.INPATIENT: _("Inpatient"),
    Benefit.OUTPATIENT_POOL: _("Outpatient pooling"),
    Benefit.SPECIAL_DISEASE: _("Chronic and special-disease outpatient"),
}


def line_eligible(line: ChargeLine, class_b_self_pay_share: Decimal) -> LineResult:
    if line.catalogue_class == "A":
        eligible = line.amount
    elif line.catalogue_class == "B":
        eligible = to_fen(line.amount * (Decimal(1) - class_b_self_pay_share))
    else:
        eligible = ZERO
    return LineResult(line=line, class_self_pay=line.amount - eligible, eligible=eligible)


def benefit_of(benefits: Benefits, visit: Visit) -> str:
    """Step 4's choice of benefit."""
    if visit.inpatient:
        return Benefit.INPATIENT if benefits.deductible_per_admission else Benefit.LEVEL
    if visit.special_disease and benefits.special_disease is not None:
        return Benefit.SPECIAL_DISEASE
    if benefits.outpatient is not None:
        return Benefit.OUTPATIENT_POOL
    return Benefit.LEVEL


def basic_layer(lines: list[ChargeLine], benefits: Benefits, so_far: YearSoFar, visit: Visit) -> Calculation:
    """Steps 1–10."""
    terms = benefits.level
    total = sum((line.amount for line in lines), ZERO)
    results = [line_eligible(line, terms.class_b_self_pay_share) for line in lines]
    eligible = sum((r.eligible for r in results), ZERO)
    benefit = benefit_of(benefits, visit)
    unreferred_upward = visit.upward and not visit.referred
    if benefit == Benefit.OUTPATIENT_POOL:
        pool = benefits.outpatient
        deductible_remaining = max(ZERO, pool.deductible - so_far.outpatient_deductible_paid)
        ratio = pool.primary_ratio if visit.primary_level else pool.other_ratio
        ceiling_remaining = max(ZERO, pool.annual_cap - so_far.outpatient_reimbursed)
    elif benefit == Benefit.SPECIAL_DISEASE:
        special = benefits.special_disease
        deductible_remaining = ZERO
        ratio = special.ratio
        ceiling_remaining = max(ZERO, special.annual_cap - so_far.special_reimbursed)
    else:
        if benefit == Benefit.INPATIENT:
            later = so_far.admissions > 0 and terms.later_admission_deductible is not None
            base = terms.later_admission_deductible if later else terms.deductible
            credited = visit.referring_deductible if visit.referred and visit.referring_deductible is not None else ZERO
            deductible_remaining = max(ZERO, base - credited)
        else:
            carried = not unreferred_upward or terms.unreferred_deductible_carried
            deductible_remaining = max(ZERO, terms.deductible - (so_far.deductible_paid if carried else ZERO))
        ratio = terms.unreferred_ratio if unreferred_upward else terms.ratio
        if visit.out_of_county and not visit.referred:
            ratio = max(ZERO, ratio - benefits.out_of_county_reduction)
        ceiling = benefits.annual_ceiling if benefits.annual_ceiling is not None else terms.annual_ceiling
        ceiling_remaining = max(ZERO, ceiling - so_far.reimbursed)
    deductible_applied = min(eligible, deductible_remaining)
    computed = to_fen((eligible - deductible_applied) * ratio)
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
        benefit=benefit,
    )


def calculate(lines: list[ChargeLine], terms: LevelTerms, so_far: YearSoFar, *, upward: bool, referred: bool) -> Calculation:
    """The basic layer under level rules alone; ``upward`` means the visit is above the patient's home level."""
    return basic_layer(lines, Benefits(level=terms), so_far, Visit(upward=upward, referred=referred))


def segmented(before: Decimal, amount: Decimal, terms: IllnessTerms) -> Decimal:
    """Step 12 before the cap: the year's qualifying self-pay moving from ``before`` to ``before + amount``."""
    paid = Decimal(0)
    starts = sorted(terms.segments)
    for index, (start, ratio) in enumerate(starts):
        low = terms.threshold + start
        high = terms.threshold + starts[index + 1][0] if index + 1 < len(starts) else None
        part_low = max(before, low)
        part_high = before + amount if high is None else min(before + amount, high)
        if part_high > part_low:
            paid += (part_high - part_low) * ratio
    return to_fen(paid)


def settle(lines: list[ChargeLine], benefits: Benefits, so_far: YearSoFar, visit: Visit) -> Statement:
    """Steps 1–14: one claim through basic insurance, critical-illness insurance and medical assistance."""
    basic = basic_layer(lines, benefits, so_far, visit)
    qualifying = basic.eligible - basic.reimbursed
    illness_paid = ZERO
    if benefits.illness is not None and (visit.inpatient or basic.benefit == Benefit.SPECIAL_DISEASE):
        illness_paid = segmented(so_far.illness_qualifying, qualifying, benefits.illness)
        if benefits.illness.annual_cap is not None:
            illness_paid = min(illness_paid, max(ZERO, benefits.illness.annual_cap - so_far.illness_paid))
    assistance_paid = ZERO
    group = ""
    if benefits.assistance is not None:
        group = benefits.assistance.group
        base = qualifying - illness_paid
        assistance_paid = min(
            to_fen(base * benefits.assistance.ratio), max(ZERO, benefits.assistance.annual_cap - so_far.assistance_paid)
        )
    return Statement(
        basic=basic,
        qualifying=qualifying,
        illness_paid=illness_paid,
        assistance_paid=assistance_paid,
        patient_pays=basic.total - basic.reimbursed - illness_paid - assistance_paid,
        assistance_group=group,
    )
