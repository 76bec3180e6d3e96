"""The roll-up's claim statements leave reversed claims out with an anti-join PostgreSQL can estimate.

Written as ``reversal__isnull=True`` (a LEFT JOIN ... IS NULL on the reversal), PostgreSQL took the
claims left for one row: nearly every claim has no reversal, and no statistic says so of the join.
On that estimate it joined the rest in nested loops, the claims of a month once per consortium
membership, so the roll-up grew with the square of the data (at 16 counties of 500,000 residents
13.7 s a statement, 189 million rows compared and dropped; ``bench/scale``).
"""

import datetime

import pytest
from django.db import connection
from django.db.models import Count

from dashboard import rollups
from insurance.models import Claim
from tests.dashboard.fixtures import build_september

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the plan is PostgreSQL's"),
]


def plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(line for (line,) in cursor.fetchall())


def test_reversed_claims_are_left_out_by_an_anti_join(chain):
    build_september(chain)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE insurance_claim")
    window = rollups.Window(datetime.date(2026, 9, 1), datetime.date(2026, 10, 1), datetime.date(2026, 10, 2))
    facts = rollups._effective_claims(window)
    text = plan(facts.values("institution").annotate(n=Count("pk")))
    assert "Anti Join" in text, text
    assert "Left Join" not in text, text
    # What the plan stands for: the reversed claim and its reversal are out, the rejected one too.
    assert set(facts.values_list("number", flat=True)) == set(
        Claim.objects.filter(period="2026-09", kind="original")
        .exclude(status="rejected")
        .exclude(reversal__isnull=False)
        .values_list("number", flat=True)
    )


def test_the_reversals_anti_join_reads_the_reversals_only(chain):
    """Not the unique index's entry of every claim, null for all but the reversals (hashed in 32 batches at 16 counties)."""
    build_september(chain)
    window = rollups.Window(datetime.date(2026, 9, 1), datetime.date(2026, 10, 1), datetime.date(2026, 10, 2))
    text = plan(rollups._effective_claims(window).values("institution").annotate(n=Count("pk")))
    assert "reverses_id IS NOT NULL" in text, text


def test_the_months_events_are_read_with_random_reads_priced_low_and_the_snapshots_are_not(chain, settings):
    """Visits and claims find their residents by primary key; every resident's snapshot keeps the server's price."""
    settings.DASHBOARD_ROLLUP_RANDOM_PAGE_COST = 1.25
    build_september(chain)
    with connection.cursor() as cursor:
        cursor.execute("SHOW random_page_cost")
        (server,) = cursor.fetchone()
    priced: list[tuple[str, str]] = []  # (statement, random_page_cost it ran with)
    inside = []

    def note(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not inside and sql.startswith("SELECT") and ' FROM "' in sql:
            inside.append(True)
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SHOW random_page_cost")
                    priced.append((sql, cursor.fetchone()[0]))
            finally:
                inside.clear()
        return result

    with connection.execute_wrapper(note):
        rollups.compute(datetime.date(2026, 9, 1), datetime.date(2026, 9, 30), today=datetime.date(2026, 10, 2))

    def costs(reading: str) -> set[str]:
        return {cost for sql, cost in priced if reading in sql}

    assert costs('FROM "records_encounter" INNER JOIN') == {"1.25"}
    assert costs('FROM "insurance_claim" INNER JOIN') == {"1.25"}
    assert costs('FROM "records_patient" INNER JOIN') == {server}  # the residents' coverage snapshot
    with connection.cursor() as cursor:
        cursor.execute("SHOW random_page_cost")
        assert cursor.fetchone()[0] == server  # and the transaction is left as it was


@pytest.mark.parametrize("cost", [0, -1, float("nan")])
def test_a_random_page_cost_out_of_range_is_refused_before_the_roll_up_reads(chain, settings, cost):
    from django.core.exceptions import ImproperlyConfigured

    settings.DASHBOARD_ROLLUP_RANDOM_PAGE_COST = cost
    with pytest.raises(ImproperlyConfigured, match="DASHBOARD_ROLLUP_RANDOM_PAGE_COST"):
        rollups.compute(datetime.date(2026, 9, 1), datetime.date(2026, 9, 30), today=datetime.date(2026, 10, 2))
