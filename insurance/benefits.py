"""From policy rows to the calculator's inputs: which numbers of a policy version apply to one claim.

No I/O beyond the policy's prefetched rows; ``services.create_claim`` gathers the facts (levels,
region codes, the referral, the enrolment) and passes them here.
"""

from decimal import Decimal

from consortium.models import InstitutionLevel

from .calculator import (
    AssistanceTerms,
    Benefits,
    IllnessTerms,
    LevelTerms,
    OutpatientTerms,
    SpecialDiseaseTerms,
)
from .models import Policy, PolicyLevelRule

PRIMARY_LEVELS = frozenset({InstitutionLevel.VILLAGE_CLINIC, InstitutionLevel.TOWNSHIP_HEALTH_CENTRE})


def level_terms(policy: Policy, rule: PolicyLevelRule) -> LevelTerms:
    return LevelTerms(
        deductible=rule.deductible,
        ratio=rule.ratio,
        unreferred_ratio=rule.unreferred_ratio,
        annual_ceiling=rule.annual_ceiling,
        class_b_self_pay_share=policy.class_b_self_pay_share,
        unreferred_deductible_carried=policy.unreferred_deductible_carried,
        later_admission_deductible=rule.later_admission_deductible,
    )


def benefits_of(policy: Policy, rule: PolicyLevelRule, assistance_group: str = "") -> Benefits:
    """The policy's layers for a claim at ``rule``'s level for a patient of ``assistance_group``."""
    outpatient = None
    if policy.outpatient_pooling:
        outpatient = OutpatientTerms(
            deductible=policy.outpatient_deductible,
            primary_ratio=policy.outpatient_primary_ratio,
            other_ratio=policy.outpatient_other_ratio,
            annual_cap=policy.outpatient_annual_cap,
        )
    special = None
    if policy.special_disease_ratio is not None and policy.special_disease_annual_cap is not None:
        special = SpecialDiseaseTerms(ratio=policy.special_disease_ratio, annual_cap=policy.special_disease_annual_cap)
    illness = None
    segments = tuple((s.start, s.ratio) for s in policy.illness_segments.all())
    if policy.illness_threshold is not None and segments:
        illness = IllnessTerms(threshold=policy.illness_threshold, segments=segments, annual_cap=policy.illness_annual_cap)
    assistance = None
    if assistance_group:
        rule_of_group = next((r for r in policy.assistance_rules.all() if r.group == assistance_group), None)
        if rule_of_group is not None:
            assistance = AssistanceTerms(group=assistance_group, ratio=rule_of_group.ratio, annual_cap=rule_of_group.annual_cap)
    return Benefits(
        level=level_terms(policy, rule),
        deductible_per_admission=policy.deductible_per_admission,
        annual_ceiling=policy.annual_ceiling,
        out_of_county_reduction=policy.out_of_county_reduction or Decimal("0"),
        outpatient=outpatient,
        special_disease=special,
        illness=illness,
        assistance=assistance,
    )
