"""The dashboard part of the demo: household income for some patients, then the roll-ups and warnings.

Deterministic and idempotent like the rest of the demo: a second run on the same day writes nothing.
"""

import datetime
import random
from decimal import Decimal

from django.db.models import Q

from consortium.models import Consortium

from . import services
from .expenditure import Thresholds, patients_with_self_pay, window_start
from .models import HouseholdEconomics, IncomeBand
from .rollups import months_back

SEED = 20261127
DEMO_MONTHS = 5
BAND_WEIGHTS = [
    (IncomeBand.UNDER_10K, 15),
    (IncomeBand.FROM_10K, 35),
    (IncomeBand.FROM_30K, 30),
    (IncomeBand.FROM_60K, 15),
    (IncomeBand.OVER_100K, 5),
]
#: Households registered as low-income (低保户) with their recorded annual income.
LOW_INCOME_HOUSEHOLDS = [Decimal("2400.00"), Decimal("3000.00"), Decimal("3600.00")]
#: The demo township centre whose doctor logs in first: its low-income households are chosen first.
DEMO_CLINIC = "YA-MF"


def seed_dashboard(today: datetime.date, report) -> None:
    consortium = Consortium.objects.order_by("pk").first()
    if consortium is None:
        return
    _seed_households(consortium, today, report)
    rollup = services.run_rollups(first=months_back(today, DEMO_MONTHS), last=today, today=today)
    report.add("indicator values", rollup.created)
    warnings = services.recompute_expenditure_warnings(today=today)
    report.add("expenditure warnings", warnings.created)


def _seed_households(consortium, today: datetime.date, report) -> None:
    rng = random.Random(SEED)
    thresholds = Thresholds.for_consortium(consortium)
    patients = patients_with_self_pay(consortium, window_start(today, thresholds.window_months), today, thresholds)
    rural = list(patients.filter(home_institution__is_rural=True).order_by("pk").values_list("pk", "self_pay_total"))
    demo_clinic = set(
        patients.filter(Q(home_institution__code=DEMO_CLINIC) | Q(home_institution__parent__code=DEMO_CLINIC)).values_list(
            "pk", flat=True
        )
    )
    bands, weights = zip(*BAND_WEIGHTS, strict=True)
    planned = {pk: (rng.choices(bands, weights)[0], None) for pk, _pay in rural if rng.random() < 0.5}
    top = sorted(rural, key=lambda row: (row[0] not in demo_clinic, -row[1], row[0]))[: len(LOW_INCOME_HOUSEHOLDS)]
    for (pk, _pay), income in zip(top, LOW_INCOME_HOUSEHOLDS, strict=True):
        planned[pk] = (IncomeBand.UNDER_10K, income)
    existing = set(HouseholdEconomics.objects.filter(patient__in=planned).values_list("patient", flat=True))
    missing = [
        HouseholdEconomics(patient_id=pk, income_band=band, annual_income=income)
        for pk, (band, income) in sorted(planned.items())
        if pk not in existing
    ]
    HouseholdEconomics.objects.bulk_create(missing)
    report.add("household income records", len(missing))
