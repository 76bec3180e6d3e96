"""The state machines of insurance: claims, policy versions and reconciliation discrepancies."""

from .models import ClaimStatus, DiscrepancyStatus, PolicyStatus

#: Allowed claim status changes; anything else is refused.
CLAIM_TRANSITIONS: dict[str, frozenset[str]] = {
    ClaimStatus.DRAFT: frozenset({ClaimStatus.SUBMITTED}),
    ClaimStatus.SUBMITTED: frozenset({ClaimStatus.APPROVED, ClaimStatus.PARTLY_APPROVED, ClaimStatus.REJECTED}),
    ClaimStatus.APPROVED: frozenset({ClaimStatus.SETTLED, ClaimStatus.RECONCILED}),
    ClaimStatus.PARTLY_APPROVED: frozenset({ClaimStatus.SETTLED, ClaimStatus.RECONCILED}),
    ClaimStatus.REJECTED: frozenset({ClaimStatus.RECONCILED}),
    ClaimStatus.SETTLED: frozenset({ClaimStatus.RECONCILED}),
    ClaimStatus.RECONCILED: frozenset(),
}

#: Allowed policy status changes: a version is drafted, put in force once, then superseded for good.
POLICY_TRANSITIONS: dict[str, frozenset[str]] = {
    PolicyStatus.DRAFT: frozenset({PolicyStatus.IN_FORCE}),
    PolicyStatus.IN_FORCE: frozenset({PolicyStatus.SUPERSEDED}),
    PolicyStatus.SUPERSEDED: frozenset(),
}

#: Allowed discrepancy status changes.
DISCREPANCY_TRANSITIONS: dict[str, frozenset[str]] = {
    DiscrepancyStatus.OPEN: frozenset({DiscrepancyStatus.EXPLAINED, DiscrepancyStatus.RESOLVED}),
    DiscrepancyStatus.EXPLAINED: frozenset({DiscrepancyStatus.OPEN, DiscrepancyStatus.RESOLVED}),
    DiscrepancyStatus.RESOLVED: frozenset({DiscrepancyStatus.OPEN}),
}
