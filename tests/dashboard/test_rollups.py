"""The roll-ups against a hand-computed month (see fixtures.py for the facts)."""

import datetime
from decimal import Decimal

import pytest

from dashboard import rollups, services
from dashboard.models import FundMonth, IndicatorValue
from tests.factories import EncounterFactory

from .fixtures import at, build_september

pytestmark = pytest.mark.django_db

SEPT, OCT = datetime.date(2026, 9, 1), datetime.date(2026, 10, 1)
TODAY = datetime.date(2026, 10, 15)


@pytest.fixture
def september(chain):
    data = build_september(chain)
    services.run_rollups(first=SEPT, last=OCT, today=TODAY)
    return data


def value(indicator, scope, scope_id, month=SEPT):
    row = IndicatorValue.objects.get(indicator=indicator, scope=scope, scope_id=scope_id, month=month)
    return row.numerator, row.denominator, row.value


def test_share_of_visits_at_primary_level_by_home_and_local_month(chain, september):
    c, city, town, village = chain["consortium"].pk, chain["city"].pk, chain["township"].pk, chain["village"].pk
    assert value("primary_visit_share", "institution", village) == (2, 3, Decimal("0.6667"))
    assert value("primary_visit_share", "institution", town) == (1, 1, Decimal("1.0000"))
    assert value("primary_visit_share", "institution", city) == (0, 1, Decimal("0.0000"))
    assert value("primary_visit_share", "township", town) == (3, 4, Decimal("0.7500"))
    assert value("primary_visit_share", "consortium", c) == (3, 5, Decimal("0.6000"))
    # 00:30 on 1 October in Shanghai is still 30 September in UTC: it belongs to October.
    assert value("primary_visit_share", "consortium", c, OCT) == (0, 1, Decimal("0.0000"))


def test_referral_counts_and_up_down_ratio(chain, september):
    c, city, town, village = chain["consortium"].pk, chain["city"].pk, chain["township"].pk, chain["village"].pk
    assert value("referrals_up", "consortium", c)[2] == 4  # cancelled and draft referrals do not count
    assert value("referrals_down", "consortium", c)[2] == 1
    assert value("up_down_ratio", "consortium", c) == (4, 1, Decimal("4.0000"))
    assert value("up_down_ratio", "institution", city) == (4, 1, Decimal("4.0000"))
    assert value("up_down_ratio", "institution", town) == (2, 1, Decimal("2.0000"))
    assert value("up_down_ratio", "institution", village) == (2, 0, None)
    assert value("referrals_up", "township", town)[2] == 4
    assert value("referrals_down", "township", town)[2] == 1


def test_median_hours_to_decision_and_appointment(chain, september):
    c, city, town = chain["consortium"].pk, chain["city"].pk, chain["township"].pk
    assert value("decision_hours", "institution", city) == (6, 3, Decimal("6.0000"))  # 2, 6, 24 hours
    assert value("decision_hours", "institution", town) == (1, 1, Decimal("1.0000"))
    assert value("decision_hours", "consortium", c) == (4, 4, Decimal("4.0000"))  # 1, 2, 6, 24: mean of the middle two
    assert value("decision_hours", "township", town) == (4, 4, Decimal("4.0000"))
    assert value("appointment_hours", "institution", city) == (60, 2, Decimal("60.0000"))  # 48 and 72 hours


def test_acceptance_follow_up_and_satisfaction(chain, september):
    c, city, town = chain["consortium"].pk, chain["city"].pk, chain["township"].pk
    assert value("acceptance_rate", "consortium", c) == (3, 4, Decimal("0.7500"))
    assert value("acceptance_rate", "institution", city) == (2, 3, Decimal("0.6667"))
    assert value("follow_up_completion", "institution", town) == (2, 3, Decimal("0.6667"))
    assert value("follow_up_completion", "consortium", c) == (2, 3, Decimal("0.6667"))
    assert value("satisfaction", "institution", city) == (9, 2, Decimal("4.5000"))
    assert value("satisfaction", "township", town) == (9, 2, Decimal("4.5000"))


def test_reimbursement_and_self_pay_rural_and_urban(chain, september):
    c, city, town = chain["consortium"].pk, chain["city"].pk, chain["township"].pk
    # Rejected claims and reversed claims (with their reversals) are left out.
    assert value("reimbursement_ratio_rural", "consortium", c) == (630, 1100, Decimal("0.5727"))
    assert value("self_pay_share_rural", "consortium", c) == (470, 1100, Decimal("0.4273"))
    assert value("reimbursement_ratio_urban", "consortium", c) == (240, 400, Decimal("0.6000"))
    assert value("self_pay_share_urban", "consortium", c) == (160, 400, Decimal("0.4000"))
    assert value("reimbursement_ratio_rural", "institution", city) == (550, 1000, Decimal("0.5500"))
    assert value("reimbursement_ratio_rural", "township", town) == (630, 1100, Decimal("0.5727"))
    assert not IndicatorValue.objects.filter(indicator="reimbursement_ratio_rural", scope="institution", scope_id=town).exists()


def test_discrepancy_rate_uses_the_latest_run_and_sync_lag_is_a_median(chain, september):
    c, city, town = chain["consortium"].pk, chain["city"].pk, chain["township"].pk
    assert value("discrepancy_rate", "institution", city) == (1, 4, Decimal("0.2500"))
    assert value("discrepancy_rate", "consortium", c) == (1, 4, Decimal("0.2500"))
    assert value("sync_lag_minutes", "institution", town) == (20, 2, Decimal("20.0000"))
    assert value("sync_lag_minutes", "township", town) == (20, 2, Decimal("20.0000"))


def test_fund_transparency_per_institution_and_month(chain, september):
    row = FundMonth.objects.get(institution=chain["city"], month=SEPT)
    assert (row.claims, row.total_charges, row.reimbursed, row.self_pay, row.settled) == (
        2,
        Decimal("1400.00"),
        Decimal("790.00"),
        Decimal("610.00"),
        Decimal("550.00"),
    )
    assert row.reimbursement_ratio == Decimal("0.5643")
    assert (row.reconciled_claims, row.matched, row.discrepancies, row.open_discrepancies) == (4, 3, 1, 1)
    village = FundMonth.objects.get(institution=chain["village"], month=SEPT)
    assert (village.claims, village.reimbursed, village.reconciled_claims) == (1, Decimal("80.00"), 0)


def test_outsiders_facts_do_not_reach_the_consortium(chain, september):
    EncounterFactory(patient__home_institution=chain["outsider"], institution=chain["outsider"], started_at=at(2026, 9, 8))
    services.run_rollups(first=SEPT, last=SEPT, today=TODAY)
    assert value("primary_visit_share", "consortium", chain["consortium"].pk) == (3, 5, Decimal("0.6000"))
    assert value("primary_visit_share", "institution", chain["outsider"].pk) == (1, 1, Decimal("1.0000"))


def test_rerunning_a_month_replaces_its_values_and_writes_nothing_when_unchanged(chain, september):
    before = list(
        IndicatorValue.objects.order_by("pk").values_list("pk", "indicator", "scope", "scope_id", "month", "value", "computed_at")
    )
    again = services.run_rollups(first=SEPT, last=OCT, today=TODAY)
    assert again.changed == 0
    assert (
        list(
            IndicatorValue.objects.order_by("pk").values_list(
                "pk", "indicator", "scope", "scope_id", "month", "value", "computed_at"
            )
        )
        == before
    )

    EncounterFactory(patient=september["patients"][2], institution=chain["township"], started_at=at(2026, 9, 9))
    changed = services.run_rollups(first=SEPT, last=SEPT, today=TODAY)
    assert changed.updated > 0 and changed.deleted == 0
    assert value("primary_visit_share", "consortium", chain["consortium"].pk) == (4, 6, Decimal("0.6667"))
    assert IndicatorValue.objects.filter(indicator="primary_visit_share", scope="consortium", month=SEPT).count() == 1


def test_a_month_whose_facts_disappear_loses_its_rows(chain, september):
    from records.models import Encounter

    Encounter.objects.filter(started_at__gte=at(2026, 10, 1, 0, 0)).update(started_at=at(2026, 11, 2))
    result = services.run_rollups(first=OCT, last=OCT, today=TODAY)
    assert result.deleted > 0
    assert not IndicatorValue.objects.filter(month=OCT, indicator="primary_visit_share").exists()
    assert IndicatorValue.objects.filter(month=SEPT).exists()  # other months are left alone


def test_a_reversed_range_is_refused():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.run_rollups(first=OCT, last=SEPT)


def test_month_keys_from_every_backend_shape():
    aware = at(2026, 9, 1, 0, 0)
    assert rollups.month_key(aware) == SEPT
    assert rollups.month_key(datetime.datetime(2026, 9, 1)) == SEPT
    assert rollups.month_key("2026-09-01 00:00:00") == SEPT
    assert rollups.month_key("2026-09") == SEPT
    assert rollups.month_key(datetime.date(2026, 9, 17)) == SEPT
    assert rollups.months_between(datetime.date(2025, 11, 30), datetime.date(2026, 2, 1)) == [
        datetime.date(2025, 11, 1),
        datetime.date(2025, 12, 1),
        datetime.date(2026, 1, 1),
        datetime.date(2026, 2, 1),
    ]


def test_the_roll_up_is_set_based_its_query_count_does_not_grow_with_the_facts(chain, september, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # one visit of each patient first, so the later facts are more of the same kinds (the same groups)
    for patient in september["patients"][:3]:
        EncounterFactory(patient=patient, institution=chain["village"], started_at=at(2026, 9, 1, 9))
    with CaptureQueriesContext(connection) as before:
        services.run_rollups(first=SEPT, last=OCT, today=TODAY)
    for day in range(2, 29):
        EncounterFactory(patient=september["patients"][day % 3], institution=chain["village"], started_at=at(2026, 9, day, 9))
    with django_assert_max_num_queries(len(before.captured_queries)):
        services.run_rollups(first=SEPT, last=OCT, today=TODAY)
