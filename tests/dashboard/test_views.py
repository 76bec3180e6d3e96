"""Dashboard pages, CSV exports and API: scoped through consortium.permissions; bad filters are 400s with errors."""

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from dashboard import services
from dashboard.models import HouseholdEconomics, IndicatorValue
from tests.factories import ChargeItemFactory, EncounterFactory, PatientFactory
from tests.problems import fields

from .fixtures import at, build_september

pytestmark = pytest.mark.django_db
PERIOD = {"start": "2026-09", "end": "2026-10"}


@pytest.fixture
def september(chain):
    data = build_september(chain)
    services.run_rollups(first=datetime.date(2026, 9, 1), last=datetime.date(2026, 10, 31), today=datetime.date(2026, 10, 15))
    return data


def scope(kind, obj):
    return f"{kind}:{obj.pk}"


def test_consortium_administrator_sees_the_consortium_with_every_chart(chain, september, login):
    client = login(chain["staff"]["consortium_admin"])
    response = client.get(reverse("dashboard:index"), {**PERIOD, "scope": scope("consortium", chain["consortium"])})
    assert response.status_code == 200
    charts = {chart["code"]: chart for chart in response.context["charts"]}
    # ten of the referral and insurance work, four of shared diagnostics, five of chronic care (control,
    # standardised management, enrolled, trigger referrals, contract coverage), and the county's three:
    # the in-county rates, their rural/urban split, and the fund spent in the county and at primary level
    assert len(charts) == 22
    share = charts["primary-visits"]
    assert share["months"] == ["2026-09", "2026-10"]
    assert [point["value"] for point in share["series"][0]["points"]] == [60.0, 0.0]
    assert [point["value"] for point in charts["referrals"]["series"][1]["points"]] == [1.0, 0.0]  # a month without data is 0
    assert charts["satisfaction"]["series"][0]["points"][1]["value"] is None  # a mean without data stays empty
    assert all(
        chart["has_data"] for code, chart in charts.items() if not code.startswith(("dx-", "chronic-"))
    )  # no diagnostics or chronic care here
    body = response.content.decode()
    assert 'src="/static/dashboard/vendor/chart.umd.min.js"' in body
    assert "http://" not in body.split("<main")[1] and "https://" not in body.split("<main")[1]
    assert f'href="{reverse("dashboard:chart-csv", args=["primary-visits"])}?scope=consortium:{chain["consortium"].pk}' in body


def test_the_default_is_the_first_visible_scope_and_the_last_six_months(chain, login):
    client = login(chain["staff"]["consortium_admin"])
    response = client.get(reverse("dashboard:index"))
    assert response.status_code == 200
    assert response.context["scope"].kind == "consortium"
    assert len(response.context["charts"][0]["months"]) == 6


def test_csv_export_of_a_chart(chain, september, login):
    client = login(chain["staff"]["consortium_admin"])
    response = client.get(
        reverse("dashboard:chart-csv", args=["referral-times"]), {**PERIOD, "scope": scope("consortium", chain["consortium"])}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:2] == ["月份", "指标"]
    assert ["2026-09", "decision_hours", "4", "4", "4"] == [rows[1][0], rows[1][2], rows[1][3], rows[1][4], rows[1][5]]
    assert len(rows) == 1 + 2 * 2  # two indicators, two months


def test_every_chart_exports(chain, september, login):
    client = login(chain["staff"]["consortium_admin"])
    for chart in (
        "primary-visits",
        "referrals",
        "referral-ratio",
        "acceptance",
        "reimbursement",
        "self-pay",
        "discrepancies",
        "sync-lag",
        "satisfaction",
    ):
        response = client.get(reverse("dashboard:chart-csv", args=[chart]), PERIOD)
        assert response.status_code == 200, chart
    assert client.get(reverse("dashboard:chart-csv", args=["nope"]), PERIOD).status_code == 404


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-13"}, "start"),
        ({"start": "September"}, "start"),
        ({"start": "2026-10", "end": "2026-09"}, "end"),
        ({"start": "2020-01", "end": "2026-09"}, "end"),
        ({"scope": "consortium:999999"}, "scope"),
        ({"scope": "bogus"}, "scope"),
    ],
)
def test_bad_filters_are_form_errors(chain, login, params, field):
    client = login(chain["staff"]["consortium_admin"])
    response = client.get(reverse("dashboard:index"), params)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    csv_response = client.get(reverse("dashboard:chart-csv", args=["referrals"]), params)
    assert csv_response.status_code == 400


def test_hospital_administrator_sees_only_the_own_institution(chain, september, login):
    client = login(chain["staff"]["hospital_admin"])
    response = client.get(reverse("dashboard:index"), PERIOD)
    assert response.status_code == 200
    assert [option.value for option in response.context["form"].scopes.values()] == [scope("institution", chain["city"])]
    for other in (
        scope("consortium", chain["consortium"]),
        scope("institution", chain["township"]),
        scope("township", chain["township"]),
    ):
        assert client.get(reverse("dashboard:index"), {**PERIOD, "scope": other}).status_code == 400
        assert client.get(reverse("dashboard:chart-csv", args=["referrals"]), {**PERIOD, "scope": other}).status_code == 400


@pytest.mark.parametrize("who", ["clinician", "clerk", "coordinator", "insurance", "outsider"])
def test_others_may_not_open_the_dashboard(chain, login, who):
    client = login(chain["staff"][who])
    assert client.get(reverse("dashboard:index")).status_code == 403
    assert client.get(reverse("dashboard:funds")).status_code == 403
    assert client.get(reverse("dashboard:chart-csv", args=["referrals"])).status_code == 403


def test_anonymous_users_are_sent_to_log_in(client):
    assert client.get(reverse("dashboard:index")).status_code == 302


def test_fund_transparency_page_and_csv(chain, september, login):
    client = login(chain["staff"]["consortium_admin"])
    response = client.get(reverse("dashboard:funds"), PERIOD)
    assert response.status_code == 200
    rows = list(response.context["rows"])
    assert {(row.institution.code, row.reimbursed) for row in rows} >= {("CITY", Decimal("790.00")), ("VIL", Decimal("80.00"))}
    exported = client.get(reverse("dashboard:funds"), {**PERIOD, "format": "csv"})
    lines = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert ["2026-09", "CITY"] in [line[:2] for line in lines]
    assert client.get(reverse("dashboard:funds"), {"start": "2026-99"}).status_code == 400

    hospital = login(chain["staff"]["hospital_admin"])
    assert {row.institution.code for row in hospital.get(reverse("dashboard:funds"), PERIOD).context["rows"]} == {"CITY"}


def test_warning_list_scoping(chain, login):
    village_patient = PatientFactory(home_institution=chain["village"], name="王五")
    encounter = EncounterFactory(patient=village_patient, started_at=at(2026, 10, 1))
    ChargeItemFactory(encounter=encounter, quantity=Decimal("1"), unit_price=Decimal("30000"), amount=Decimal("30000"))
    services.recompute_expenditure_warnings(today=datetime.date(2026, 11, 26))

    township_doctor = login(chain["staff"]["clinician"])
    response = township_doctor.get(reverse("dashboard:warnings"))
    assert response.status_code == 200
    assert "王五" in response.content.decode() and "30,000.00" in response.content.decode()
    assert f'href="{reverse("dashboard:funds")}"' not in response.content.decode()  # no tab the clinician may not open

    admin = login(chain["staff"]["consortium_admin"])
    body = admin.get(reverse("dashboard:warnings")).content.decode()
    assert "30,000.00" in body and "王五" not in body  # administrators see the numbers, not the name

    assert "30,000.00" not in login(chain["staff"]["hospital_admin"]).get(reverse("dashboard:warnings")).content.decode()
    assert login(chain["staff"]["insurance"]).get(reverse("dashboard:warnings")).status_code == 403
    outsider = login(chain["staff"]["outsider"]).get(reverse("dashboard:warnings"))
    assert outsider.status_code == 200 and "30,000.00" not in outsider.content.decode()
    cleared = township_doctor.get(reverse("dashboard:warnings"), {"status": "cleared"}).content.decode()
    assert "30,000.00" not in cleared


def test_api_indicators(chain, september, login):
    client = login(chain["staff"]["consortium_admin"])
    url = reverse("api-dashboard-indicators")
    response = client.get(url, {**PERIOD, "scope": scope("consortium", chain["consortium"]), "indicator": "acceptance_rate"})
    assert response.status_code == 200
    assert response.json()["results"] == [
        {
            "indicator": "acceptance_rate",
            "label": response.json()["results"][0]["label"],
            "month": "2026-09",
            "value": "0.7500",
            "numerator": "3.0000",
            "denominator": "4.0000",
        }
    ]
    unknown = client.get(url, {"indicator": "nope"})
    assert fields(unknown) == {"indicator"}
    bad = client.get(url, {"start": "2026-13"})
    assert "start" in fields(bad)
    assert client.get(url, {"scope": scope("institution", chain["outsider"])}).status_code == 400
    assert login(chain["staff"]["clinician"]).get(url).status_code == 403


def test_api_warnings(chain, login):
    patient = PatientFactory(home_institution=chain["township"])
    encounter = EncounterFactory(patient=patient, started_at=at(2026, 10, 1))
    ChargeItemFactory(encounter=encounter, quantity=Decimal("1"), unit_price=Decimal("20000"), amount=Decimal("20000"))
    services.recompute_expenditure_warnings(today=datetime.date(2026, 11, 26))
    client = login(chain["staff"]["clinician"])
    response = client.get(reverse("api-dashboard-warnings"))
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert (row["patient"], row["flagged_to"], row["self_pay"], row["over_absolute"]) == (patient.pk, "TOWN", "20000.00", True)
    assert "name" not in row
    bad = client.get(reverse("api-dashboard-warnings"), {"status": "weird"})
    assert bad.status_code == 400 and "status" in bad.json()
    assert login(chain["staff"]["outsider"]).get(reverse("api-dashboard-warnings")).json()["results"] == []


def test_the_nav_shows_the_dashboard_to_administrators_only(chain, login):
    link = f'href="{reverse("dashboard:index")}"'
    assert link in login(chain["staff"]["consortium_admin"]).get("/").content.decode()
    clinician_home = login(chain["staff"]["clinician"]).get("/").content.decode()
    assert link not in clinician_home
    assert f'href="{reverse("dashboard:warnings")}"' in clinician_home


def test_stored_values_are_what_the_page_reads(chain, login):
    IndicatorValue.objects.create(
        indicator="primary_visit_share", scope="consortium", scope_id=chain["consortium"].pk, month=datetime.date(2026, 9, 1),
        numerator=Decimal(1), denominator=Decimal(4), value=Decimal("0.25"),
    )  # fmt: skip
    client = login(chain["staff"]["consortium_admin"])
    response = client.get(reverse("dashboard:index"), {"start": "2026-09", "end": "2026-09"})
    assert response.context["charts"][0]["series"][0]["points"][0]["value"] == 25.0
    others = len(response.context["charts"]) - 1
    assert [chart["has_data"] for chart in response.context["charts"]] == [True] + [False] * others
    assert response.content.decode().count("该期间暂无数据。") == others


def test_clinic_staff_record_household_income_with_form_errors_for_bad_input(chain, login):
    patient = PatientFactory(home_institution=chain["township"])
    url = reverse("dashboard:household", args=[patient.pk])
    clerk = login(chain["staff"]["clerk"])
    assert clerk.get(url).status_code == 200
    for data, field in (({"income_band": "", "annual_income": ""}, "income_band"), ({"annual_income": "-5"}, "annual_income"),
                        ({"income_band": "rich"}, "income_band"), ({"annual_income": "abc"}, "annual_income")):  # fmt: skip
        response = clerk.post(url, data)
        assert response.status_code == 400 and field in response.context["form"].errors
    assert not HouseholdEconomics.objects.exists()
    response = clerk.post(url, {"income_band": "under_10k", "annual_income": "3000.00"})
    assert response.status_code == 302
    assert HouseholdEconomics.objects.get(patient=patient).annual_income == Decimal("3000.00")
    for who in ("outsider", "consortium_admin", "coordinator"):
        assert login(chain["staff"][who]).post(url, {"income_band": "under_10k"}).status_code == 404


def test_superuser_configures_the_thresholds_in_the_admin(client, chain, django_user_model):
    from dashboard.models import WarningPolicy

    admin = django_user_model.objects.create_superuser("root", "root@example.org", "x")
    client.force_login(admin)
    response = client.post(
        reverse("admin:dashboard_warningpolicy_add"),
        {"consortium": chain["consortium"].pk, "absolute_threshold": "15000.00", "relative_share": "0.3", "window_months": "12"},
    )
    assert response.status_code == 302
    assert WarningPolicy.objects.get().absolute_threshold == Decimal("15000.00")
    bad = client.post(
        reverse("admin:dashboard_warningpolicy_add"),
        {"consortium": chain["consortium"].pk, "absolute_threshold": "0", "relative_share": "1.5", "window_months": "0"},
    )
    assert bad.status_code == 200
    assert set(bad.context["adminform"].form.errors) >= {"absolute_threshold", "relative_share", "window_months"}
    assert client.get(reverse("admin:dashboard_indicatorvalue_changelist")).status_code == 200
