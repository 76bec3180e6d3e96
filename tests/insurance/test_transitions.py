"""The claim state machine, exhaustively: the table as it stands, every move a service makes is in
it, and every move it lacks is refused by the service that would make it (nothing changed)."""

import pytest

from consortium.errors import IllegalTransition
from consortium.permissions import SYSTEM
from insurance import services
from insurance.models import ADJUDICATED, Claim, ClaimStatus
from insurance.transitions import CLAIM_TRANSITIONS

S = ClaimStatus


def test_the_claim_table():
    assert {source: set(targets) for source, targets in CLAIM_TRANSITIONS.items()} == {
        S.DRAFT: {S.SUBMITTED},
        S.SUBMITTED: {S.APPROVED, S.PARTLY_APPROVED, S.REJECTED},
        S.APPROVED: {S.SETTLED, S.RECONCILED, S.APPEALED},
        S.PARTLY_APPROVED: {S.SETTLED, S.RECONCILED, S.APPEALED},
        S.REJECTED: {S.RECONCILED, S.APPEALED},
        S.APPEALED: {S.APPROVED, S.PARTLY_APPROVED, S.REJECTED},
        S.SETTLED: {S.RECONCILED},
        S.RECONCILED: set(),
    }
    assert set(CLAIM_TRANSITIONS) == set(ClaimStatus)


def _claim_in(status, chain, visit) -> Claim:
    claim = services.create_claim(encounter=visit(), actor=SYSTEM)
    if status != S.DRAFT:
        # put the row in the status directly: the test is about the move out of it
        Claim.objects.filter(pk=claim.pk).update(
            status=status, approved_amount=claim.reimbursed if status in ADJUDICATED | {S.SETTLED, S.RECONCILED} else None
        )
    claim.refresh_from_db()
    return claim


@pytest.mark.parametrize("source", list(ClaimStatus))
def test_appeal_exactly_where_the_table_allows(chain, visit, source):
    claim = _claim_in(source, chain, visit)
    if S.APPEALED in CLAIM_TRANSITIONS[source]:
        services.appeal_adjudication(claim=claim, actor=SYSTEM, reason="复核")
        claim.refresh_from_db()
        assert claim.status == S.APPEALED
    else:
        with pytest.raises(IllegalTransition):
            services.appeal_adjudication(claim=claim, actor=SYSTEM, reason="复核")
        claim.refresh_from_db()
        assert claim.status == source and not claim.appeals.exists()


@pytest.mark.parametrize("outcome", sorted(ADJUDICATED))
@pytest.mark.parametrize("source", list(ClaimStatus))
def test_adjudication_exactly_where_the_table_allows(chain, visit, source, outcome):
    claim = _claim_in(source, chain, visit)
    decision = services.Adjudication(
        claim.number,
        outcome,
        claim.reimbursed - 1 if outcome == S.PARTLY_APPROVED else None,
        ["R01"] if outcome != S.APPROVED else [],
    )
    if outcome in CLAIM_TRANSITIONS[source]:
        services.adjudicate_claims(claims_queryset=Claim.objects.all(), decisions=[decision], actor=SYSTEM)
        claim.refresh_from_db()
        assert claim.status == outcome
    else:
        with pytest.raises(services.AdjudicationErrors):
            services.adjudicate_claims(claims_queryset=Claim.objects.all(), decisions=[decision], actor=SYSTEM)
        claim.refresh_from_db()
        assert claim.status == source


@pytest.mark.parametrize("source", list(ClaimStatus))
def test_submission_exactly_where_the_table_allows(chain, visit, source):
    claim = _claim_in(source, chain, visit)
    batches = services.submit_claims(institution=chain["township"], period=claim.period, actor=SYSTEM)
    claim.refresh_from_db()
    if S.SUBMITTED in CLAIM_TRANSITIONS[source]:
        assert claim.status == S.SUBMITTED and len(batches) == 1
    else:
        assert claim.status == source and batches == []
