"""The fund shares in the county and at primary level, the rural/urban split of the county rates,
and the county scorecard page and its CSV report, against hand-computed figures (see fixtures.py)."""

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from consortium.permissions import SYSTEM
from dashboard import services
from dashboard.models import IndicatorValue
from insurance.out_of_county import COLUMNS, land_out_of_county_file

from .fixtures import build_september

pytestmark = pytest.mark.django_db
SEPT, OCT = datetime.date(2026, 9, 1), datetime.date(2026, 10, 1)
PERIOD = {"start": "2026-09", "end": "2026-10"}


@pytest.fixture
def september(chain):
    data = build_september(chain)
    village_patient = data["patients"][0]
    village_patient.insurance_number = "H420525000901"
    village_patient.save(update_fields=["insurance_number"])
    body = (
        ",".join(COLUMNS) + "\n"
        "S-1,H420525000901,URRBMI,武汉协和医院,420102,city_hospital,inpatient,2026-09-18,3000.00,130.00\n"
        "S-2,H420525000901,URRBMI,武汉协和医院,420102,city_hospital,outpatient,2026-10-02,100.00,40.00\n"
    )
    land_out_of_county_file(office=chain["office"], upload=body.encode(), file_name="oc.csv", actor=SYSTEM)
    services.run_rollups(first=SEPT, last=OCT, today=datetime.date(2026, 10, 15))
    return data


def value(indicator, scope, scope_id, month=SEPT):
    row = IndicatorValue.objects.get(indicator=indicator, scope=scope, scope_id=scope_id, month=month)
    return row.numerator, row.denominator, row.value


def test_fund_spent_in_the_county_and_at_primary_level(chain, september):
    c = chain["consortium"].pk
    # Effective September claims (approved amount absent, so the calculated reimbursement):
    # village resident at the village clinic 80 (in county, primary), at the city hospital 550
    # (outside the resident's county, at a member); city resident at the city hospital 240 (in county).
    # Outside the county from the insurer: the village resident's admission, the fund paid 130.
    assert value("fund_in_county", "consortium", c)[0] == Decimal("320.0000")
    assert value("fund_out_of_county_members", "consortium", c)[0] == Decimal("550.0000")
    assert value("fund_out_of_county_insurer", "consortium", c)[0] == Decimal("130.0000")
    assert value("fund_primary", "consortium", c)[0] == Decimal("80.0000")
    # 320 / (320 + 550 + 130) and 80 / 1000
    assert value("fund_in_county_share", "consortium", c) == (Decimal("320.0000"), Decimal("1000.0000"), Decimal("0.3200"))
    assert value("fund_primary_share", "consortium", c) == (Decimal("80.0000"), Decimal("1000.0000"), Decimal("0.0800"))


def test_county_rates_split_by_rural_and_urban_residents(chain, september):
    c = chain["consortium"].pk
    # rural (village and township residents): fund 80 in county of 80 + 550 + 130
    assert value("fund_in_county_share_rural", "consortium", c)[2] == Decimal("0.1053")
    assert value("fund_in_county_share_urban", "consortium", c)[2] == Decimal("1.0000")
    # visits: the village resident 2 at the village + 1 at the city (outside) + 1 from the insurer;
    # the township resident 1 at the township: 3 in county of 5
    assert value("in_county_visit_rate_rural", "consortium", c) == (Decimal("3.0000"), Decimal("5.0000"), Decimal("0.6000"))
    assert value("in_county_visit_rate_urban", "consortium", c)[2] == Decimal("1.0000")
    assert value("primary_visit_share_rural", "consortium", c)[2] == Decimal("0.7500")
    assert value("primary_visit_share_urban", "consortium", c)[2] == Decimal("0.0000")
    # the unsplit rate is still the sum of both populations
    assert value("in_county_visit_rate", "consortium", c) == (Decimal("4.0000"), Decimal("6.0000"), Decimal("0.6667"))


def test_the_scorecard_sums_the_months_and_shows_each_definition(chain, september, login):
    client = login(chain["staff"]["consortium_admin"])
    response = client.get(
        reverse("dashboard:scorecard"), {**PERIOD, "scope": f"consortium:{chain['consortium'].pk}"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    lines = {line["code"]: line for line in response.context["lines"]}
    # September 4 of 6 visits in county; October: the township resident's visit at the city, one from the insurer
    visit_rate = lines["in_county_visit_rate"]
    assert (visit_rate["numerator"], visit_rate["denominator"], visit_rate["value"]) == (
        Decimal("4.00"),
        Decimal("8.00"),
        Decimal("50.00"),
    )
    # the fund: 320 of 1000 in September; October adds 40 paid outside the county: 320 / 1040
    assert lines["fund_in_county_share"]["value"] == Decimal("30.77")
    assert lines["fund_in_county_share"]["rural"] == Decimal("10.00")  # 80 / (760 + 40)
    assert lines["referrals_up"]["value"] == Decimal("4.00")
    assert lines["bp_control_rate"]["value"] is None  # no chronic follow-ups here: blank, not zero
    body = response.content.decode()
    assert "50.00%" in body
    assert "including visits outside the county from the insurer" in body
    assert f'href="?scope=consortium:{chain["consortium"].pk}&amp;start=2026-09&amp;end=2026-10&amp;format=csv"' in body


def test_the_county_report_csv(chain, september, login):
    client = login(chain["staff"]["consortium_admin"])
    response = client.get(
        reverse("dashboard:scorecard"),
        {**PERIOD, "scope": f"consortium:{chain['consortium'].pk}", "format": "csv"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:7] == ["Reporting unit", "Reporting period", "Indicator", "Code", "Numerator", "Denominator", "Value"]
    by_code = {row[3]: row for row in rows[1:]}
    assert by_code["in_county_visit_rate"][1] == "2026-09—2026-10"
    assert by_code["in_county_visit_rate"][4:8] == ["4.00", "8.00", "50.00", "%"]
    assert by_code["fund_in_county_share"][8:10] == ["10.00", "100.00"]
    assert by_code["bp_control_rate"][6] == ""
    assert all(row[10] for row in rows[1:])  # every line carries its definition


def test_the_scorecard_is_for_those_who_see_the_dashboard(chain, september, login):
    clerk = login(chain["staff"]["clerk"])
    assert clerk.get(reverse("dashboard:scorecard"), PERIOD).status_code == 403


def test_bad_periods_are_form_errors_on_the_scorecard(chain, login):
    client = login(chain["staff"]["consortium_admin"])
    response = client.get(reverse("dashboard:scorecard"), {"start": "2026-13", "end": "2026-10"})
    assert response.status_code == 400
    assert "start" in response.context["form"].errors


def test_register_lines_take_the_last_month_and_the_admission_rate_divides_by_it(chain, login):
    c = chain["consortium"].pk

    def store(code, month, n, d):
        IndicatorValue.objects.create(
            indicator=code, scope="consortium", scope_id=c, month=month, numerator=Decimal(n), denominator=Decimal(d),
            value=Decimal(n) / Decimal(d) if d else None,
        )  # fmt: skip

    store("hypertension_enrolled", SEPT, 10, 10)
    store("hypertension_enrolled", OCT, 12, 12)
    store("diabetes_enrolled", SEPT, 5, 5)
    store("diabetes_enrolled", OCT, 6, 6)
    store("chronic_admissions", SEPT, 1, 1)
    store("chronic_admissions", OCT, 2, 2)
    store("contract_coverage_rural", SEPT, 30, 100)
    store("contract_coverage_rural", OCT, 40, 100)
    store("contract_coverage_urban", OCT, 10, 20)
    client = login(chain["staff"]["consortium_admin"])
    response = client.get(reverse("dashboard:scorecard"), {**PERIOD, "scope": f"consortium:{c}"})
    lines = {line["code"]: line for line in response.context["lines"]}
    assert lines["hypertension_enrolled"]["value"] == Decimal("12.00")  # the register at the end, not 22
    # 3 admissions in the two months over the 18 patients on the registers at the end
    admission = lines["chronic_admission_rate"]
    assert (admission["numerator"], admission["denominator"], admission["value"]) == (
        Decimal("3.00"),
        Decimal("18.00"),
        Decimal("16.67"),
    )
    coverage = lines["contract_coverage"]
    assert (coverage["value"], coverage["rural"], coverage["urban"]) == (Decimal("41.67"), Decimal("40.00"), Decimal("50.00"))
