"""The in-county visit and inpatient rates against a hand-computed month (docs/INDICATORS.md)."""

import collections
import datetime
import re
import zoneinfo
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consortium.permissions import SYSTEM
from dashboard import rollups
from insurance.models import Scheme
from insurance.out_of_county import COLUMNS, land_out_of_county_file
from records.models import EncounterKind
from tests.factories import EncounterFactory, PatientFactory

pytestmark = pytest.mark.django_db
MAY = datetime.date(2026, 5, 1)
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def test_in_county_rates(chain):
    Scheme.objects.get_or_create(code="URRBMI", defaults={"name": "城乡居民"})
    resident = PatientFactory(home_institution=chain["township"], insurance_number="H420525000777")
    other = PatientFactory(home_institution=chain["village"])
    when = datetime.datetime(2026, 5, 10, 9, tzinfo=SHANGHAI)
    # in the county (420525): 3 visits, one of them an admission
    for institution, kind in ((chain["township"], EncounterKind.OUTPATIENT), (chain["township"], EncounterKind.INPATIENT)):
        EncounterFactory(patient=resident, institution=institution, started_at=when, kind=kind)
    EncounterFactory(patient=other, institution=chain["village"], started_at=when)
    # outside the county at a member: the city hospital (420502)
    EncounterFactory(patient=resident, institution=chain["city"], started_at=when)
    # outside the county from the insurer's data: one admission of the resident, one unknown person (not linked)
    header = ",".join(COLUMNS)
    body = (
        f"{header}\n"
        "S-1,H420525000777,URRBMI,武汉协和医院,420102,city_hospital,inpatient,2026-05-20,18000.00,9000.00\n"
        "S-2,HUNKNOWN,URRBMI,武汉协和医院,420102,city_hospital,outpatient,2026-05-21,200.00,80.00\n"
    )
    land_out_of_county_file(office=chain["office"], upload=body.encode(), file_name="m.csv", actor=SYSTEM)
    results = rollups.compute(MAY, MAY, today=datetime.date(2026, 6, 15))
    c = chain["consortium"].pk

    def at(code, scope="consortium", scope_id=c):
        row = results[(code, scope, scope_id, MAY)]
        return row["numerator"], row["denominator"], row["value"]

    # visits: 3 in county / (3 + 1 at the city hospital + 1 from the insurer) = 0.6
    assert at("in_county_visit_rate") == (Decimal("3.0000"), Decimal("5.0000"), Decimal("0.6000"))
    # admissions: 1 in county / (1 + 0 + 1) = 0.5
    assert at("in_county_inpatient_rate") == (Decimal("1.0000"), Decimal("2.0000"), Decimal("0.5000"))
    # the resident's township: the township and its village clinic's residents
    assert at("in_county_visit_rate", "township", chain["township"].pk)[2] == Decimal("0.6000")
    # the village clinic's resident stayed at home
    assert at("in_county_visit_rate", "institution", chain["village"].pk)[2] == Decimal("1.0000")
    # an indicator has no value where none of its facts is: the village resident was never admitted
    assert ("admissions_in_county", "institution", chain["village"].pk, MAY) not in results
    assert ("visits_in_county", "institution", chain["village"].pk, MAY) in results


def test_the_visits_and_the_claims_are_each_read_in_one_pass(chain):
    """Fifteen visit indicators and thirteen claim indicators, each grouped by institution, township
    and consortium: one GROUP BY over each table (45 and 39 statements when read apart)."""
    EncounterFactory(patient=PatientFactory(home_institution=chain["village"]), institution=chain["village"])
    with CaptureQueriesContext(connection) as queries:
        rollups.compute(MAY, MAY, today=datetime.date(2026, 6, 15))
    read = (re.search(r' FROM "(\w+)"', q["sql"]) for q in queries.captured_queries)
    tables = collections.Counter(found.group(1) for found in read if found)  # not the planner settings (PostgreSQL)
    assert tables["records_encounter"] == 2  # the county's visit indicators; the chronic patients' admissions
    assert tables["insurance_claim"] == 1
