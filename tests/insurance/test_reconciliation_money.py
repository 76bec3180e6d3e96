"""Money of a reconciliation: totals add up, the same file gives the same rows, agreement is matched.

A property test over generated settlement files for the seven adjudicated claims (six approved at
340.00, one rejected): any mix of paid and rejected lines, wrong amounts, duplicates and unknown
claim numbers.
"""

from collections import Counter
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consortium.permissions import SYSTEM
from insurance import selectors, services
from insurance.models import Claim

from .test_reconciliation import HEADER, upload

pytestmark = pytest.mark.django_db

LINES = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=7),  # 7 = a claim number the platform does not know
        st.sampled_from(["paid", "rejected"]),
        st.integers(min_value=-50_000, max_value=100_000),  # fen
    ),
    max_size=12,
)
_counter = iter(range(10**6))


def _rows(run) -> Counter:
    return Counter(run.discrepancies.values_list("claim_number", "kind", "expected_amount", "paid_amount", "difference"))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=LINES)
def test_totals_add_up_and_the_same_file_gives_the_same_rows(chain, adjudicated, lines):
    numbers = [claim.number for claim in adjudicated] + ["TOWN-999999-1"]
    body = "\n".join(f"{numbers[i]},TOWN,{D(fen) / 100:.2f},{status},,R{next(_counter)}" for i, status, fen in lines)
    settlement = upload(chain["office"], HEADER + body + ("\n" if body else f"{numbers[0]},CITY,1.00,paid,,X{next(_counter)}\n"))
    first = services.run_reconciliation(settlement_file=settlement, institution=chain["township"], actor=SYSTEM)
    totals = selectors.run_totals(first)
    zero = D("0")
    for row in totals:
        assert (row["expected"] or zero) + (row["difference"] or zero) == (row["paid"] or zero), row
    overall = [sum((row[key] or zero) for row in totals) for key in ("expected", "difference", "paid")]
    assert overall[0] + overall[1] == overall[2]
    # Each claim's expected amount is counted once, whatever its lines.
    claims = Claim.objects.filter(pk__in=[c.pk for c in adjudicated])
    assert overall[0] == sum(c.approved_amount if c.approved_amount is not None else c.reimbursed for c in claims)
    again = services.run_reconciliation(settlement_file=settlement, institution=chain["township"], actor=SYSTEM)
    assert _rows(again) == _rows(first)
    rejected_claim = adjudicated[6].number
    agreed = [row for row in first.discrepancies.filter(claim_number=rejected_claim)]
    paid_lines = [fen for i, status, fen in lines if i == 6 and status == "paid"]
    if not paid_lines:
        # Rejected by the platform and rejected (or not paid) by the insurer: an agreement.
        assert agreed[0].kind == "matched" and agreed[0].status == "resolved"
