"""Annual accumulators stay right when claims for one patient are written at the same time (PostgreSQL row locks)."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from consortium.permissions import SYSTEM
from insurance import services
from insurance.models import Accumulator, Claim

from .conftest import at

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="real row-lock concurrency needs PostgreSQL"),
]


def test_concurrent_claims_share_one_deductible_and_one_ceiling(chain, policy, visit):
    policy.level_rules.filter(level="township_health_centre").update(annual_ceiling=Decimal("1000.00"))
    first = visit()
    encounters = [first] + [visit(patient=first.patient, when=at(day=10 + i)) for i in range(1, 8)]
    barrier = threading.Barrier(len(encounters))
    errors = []

    def claim(encounter):
        try:
            barrier.wait(timeout=30)
            services.create_claim(encounter=encounter, actor=SYSTEM)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(e,)) for e in encounters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    claims = list(Claim.objects.filter(patient=first.patient))
    assert len(claims) == len(encounters)
    accumulator = Accumulator.objects.get(patient=first.patient)
    assert accumulator.deductible_paid == sum(c.deductible_applied for c in claims) == Decimal("100.00")
    assert accumulator.reimbursed == sum(c.reimbursed for c in claims) == Decimal("1000.00")
    assert sum(1 for c in claims if c.deductible_applied) == 1
