"""The state machines of insurance: claims, policy versions and reconciliation discrepancies."""

from consortium.permissions import Action

from .models import ClaimStatus, DiscrepancyStatus, PolicyStatus

#: Allowed claim status changes; anything else is refused.
CLAIM_TRANSITIONS: dict[str, frozenset[str]] = {
    ClaimStatus.DRAFT: frozenset({ClaimStatus.SUBMITTED}),
    ClaimStatus.SUBMITTED: frozenset({ClaimStatus.APPROVED, ClaimStatus.PARTLY_APPROVED, ClaimStatus.REJECTED}),
    ClaimStatus.APPROVED: frozenset({ClaimStatus.SETTLED, ClaimStatus.RECONCILED, ClaimStatus.APPEALED}),
    ClaimStatus.PARTLY_APPROVED: frozenset({ClaimStatus.SETTLED, ClaimStatus.RECONCILED, ClaimStatus.APPEALED}),
    ClaimStatus.REJECTED: frozenset({ClaimStatus.RECONCILED, ClaimStatus.APPEALED}),
    # under appeal (the institution's) or reopened (the office's): adjudicated again
    ClaimStatus.APPEALED: frozenset({ClaimStatus.APPROVED, ClaimStatus.PARTLY_APPROVED, ClaimStatus.REJECTED}),
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


def discrepancy_action(current: str, target: str) -> Action:
    """The right a discrepancy move needs.

    Resolving, and reopening a resolved discrepancy, decide the money: only the insurance office that
    ran the reconciliation (``RESOLVE_RECONCILIATION``). Explaining (or withdrawing an explanation,
    or editing its note) is open to whoever reviews the reconciliation, the institution's staff too.
    """
    if DiscrepancyStatus.RESOLVED in (current, target):
        return Action.RESOLVE_RECONCILIATION
    return Action.REVIEW_RECONCILIATION
