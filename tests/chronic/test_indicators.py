"""Chronic-care indicators through the dashboard roll-up: control rates (by the last follow-up) rural and urban side by side."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from chronic import services
from dashboard.rollups import compute, month_start

pytestmark = pytest.mark.django_db


def test_control_rates_rural_and_urban_and_triggered_referrals(chronic):
    rural = chronic.enrolled()
    chronic.record(rural, "132", "84")
    chronic.record(rural, "150", "95")
    chronic.record(rural, "186", "100")  # danger: a referral proposed
    urban_patient = chronic.patient(home=chronic.city, name="城里人")
    root = get_user_model().objects.create_superuser(
        "root", password="x"
    )  # the city's own registry is out of the chain fixture's staff
    candidate = services.add_candidate(
        actor=root, patient=urban_patient, programme=chronic.hypertension, institution=chronic.city
    )
    urban = services.enrol(candidate.pk, actor=root)
    chronic.record(urban, "128", "80", actor=root)
    today = timezone.localdate()
    values = compute(today, today, today)
    month = month_start(today)

    def value(code, scope, scope_id):
        row = values[(code, scope, scope_id, month)]
        return row["numerator"], row["denominator"], row["value"]

    # One rural patient followed up three times this month: the last follow-up (a danger value) decides.
    assert value("bp_control_rate_rural", "institution", chronic.village.pk) == (0, 1, Decimal("0.0000"))
    assert value("bp_control_rate_rural", "township", chronic.township.pk) == (0, 1, Decimal("0.0000"))
    assert value("bp_control_rate_urban", "consortium", chronic.consortium.pk) == (1, 1, Decimal("1.0000"))
    assert value("chronic_referrals_triggered", "institution", chronic.village.pk)[0] == 1
