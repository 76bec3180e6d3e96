"""The visit form: nothing typed is dropped, vitals are structured, dates survive zh-hans, defaults are sensible."""

import datetime
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from records.models import Encounter, Observation
from tests.clock import frozen_at
from tests.factories import DepartmentFactory, EncounterFactory

from .test_web import visit_post

pytestmark = pytest.mark.django_db


def _post(client, patient, **overrides):
    return client.post(reverse("records:encounter-create", args=[patient.pk]), visit_post(**overrides))


def _row_errors(response, section: str, index: int) -> dict:
    return response.context["sections"][section].forms[index].errors


@pytest.mark.parametrize(
    ("section", "overrides", "field"),
    [
        # A diagnosis row with "primary" ticked and no code.
        ("diagnoses", {"dx-1-is_primary": "on", "dx-0-is_primary": ""}, "code"),
        # A prescription row with a dose and days but no drug.
        ("prescriptions", {"rx-1-dose": "5mg", "rx-1-days": "14"}, "drug_name"),
        # The field report: 收缩压 162 mmHg typed without a code.
        ("observations", {"obs-1-name": "血红蛋白", "obs-1-value": "98", "obs-1-unit": "g/L"}, "code"),
        # The field report: 普通门诊诊查费 without an item code.
        (
            "charge_items",
            {
                "charge-1-name": "普通门诊诊查费",
                "charge-1-category": "consultation",
                "charge-1-catalogue_class": "A",
                "charge-1-quantity": "1",
                "charge-1-unit_price": "10",
            },
            "item_code",
        ),
    ],
)
def test_a_half_filled_row_is_refused_on_that_row_and_nothing_is_saved(chain, login, patients, section, overrides, field):
    client = login(chain["staff"]["clinician"])
    response = _post(client, patients["town"], **overrides)
    assert response.status_code == 200
    assert field in _row_errors(response, section, 1)
    assert not _row_errors(response, section, 0)
    assert not Encounter.objects.exists()
    page = response.content.decode()
    # The typed values are still on the page.
    for key, value in overrides.items():
        if value and value != "on" and not key.endswith(("category", "catalogue_class")):
            assert f'value="{value}"' in page


def test_blank_rows_are_skipped_and_there_is_no_limit_of_three(chain, login, patients):
    client = login(chain["staff"]["clinician"])
    rows = {"rx-TOTAL_FORMS": "8"}
    for i in range(6):
        rows |= {f"rx-{i}-drug_name": f"药品{i}", f"rx-{i}-dose": "1片"}
    response = _post(client, patients["town"], **rows)  # rows 6 and 7 are blank
    assert response.status_code == 302
    assert Encounter.objects.get().prescriptions.count() == 6


def test_structured_vitals_are_stored_with_codes_units_and_flags(chain, login, patients):
    client = login(chain["staff"]["clinician"])
    response = _post(
        client,
        patients["town"],
        **{
            "obs-0-code": "",
            "obs-0-name": "",
            "obs-0-value": "",
            "obs-0-unit": "",
            "obs-0-reference_low": "",
            "obs-0-reference_high": "",
            "vitals-bp_systolic": "162",
            "vitals-bp_diastolic": "95",
            "vitals-pulse": "78",
            "vitals-temperature": "36.8",
            "vitals-weight": "61.5",
            "vitals-height": "158",
            "vitals-glucose": "7.2",
        },
    )
    assert response.status_code == 302
    values = {o.name: (o.value, o.unit, o.out_of_range) for o in Observation.objects.all()}
    assert values["收缩压"] == (Decimal("162"), "mmHg", True)
    assert values["舒张压"] == (Decimal("95"), "mmHg", True)
    assert values["体温"] == (Decimal("36.8"), "°C", False)
    assert values["血糖"][2] is True and len(values) == 7
    assert set(Observation.objects.values_list("kind", flat=True)) == {"vital"}


@pytest.mark.parametrize(
    ("vitals", "field"),
    [
        ({"vitals-bp_systolic": "1620", "vitals-bp_diastolic": "95"}, "bp_systolic"),
        ({"vitals-bp_systolic": "162"}, "bp_diastolic"),
        ({"vitals-bp_systolic": "90", "vitals-bp_diastolic": "120"}, "bp_diastolic"),
        ({"vitals-temperature": "368"}, "temperature"),
        ({"vitals-pulse": "abc"}, "pulse"),
    ],
)
def test_implausible_vitals_are_refused_on_their_field(chain, login, patients, vitals, field):
    client = login(chain["staff"]["clinician"])
    response = _post(client, patients["town"], **vitals)
    assert response.status_code == 200
    assert field in response.context["vitals"].errors
    assert not Encounter.objects.exists()


def test_new_visit_starts_now_with_the_signed_in_doctor_and_department_in_chinese(chain, login, patients):
    clinician = chain["staff"]["clinician"]
    clinician.department = DepartmentFactory(institution=chain["township"], name="全科")
    clinician.save()
    client = login(clinician)
    with frozen_at("2026-12-02T02:00+08:00"), translation.override("zh-hans"):
        page = client.get(reverse("records:encounter-create", args=[patients["town"].pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    html = page.content.decode()
    assert re.search(r'name="started_at"[^>]*value="2026-12-02T02:00"', html), "start time in the HTML format"
    assert re.search(rf'<option value="{clinician.pk}" selected>', html)
    assert re.search(rf'<option value="{clinician.department_id}" selected>', html)


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_editing_a_visit_keeps_its_start_time_in_both_languages(chain, login, patients, language, settings):
    settings.LANGUAGE_CODE = language
    client = login(chain["staff"]["clinician"])
    started = datetime.datetime(2026, 12, 2, 4, 18, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))
    encounter = EncounterFactory(patient=patients["town"], institution=chain["township"], started_at=started)
    url = reverse("records:encounter-edit", args=[encounter.pk])
    page = client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    match = re.search(r'name="started_at"[^>]*value="([^"]*)"', page)
    assert match and match.group(1) == "2026-12-02T04:18"
    response = client.post(
        url,
        {"kind": encounter.kind, "started_at": match.group(1), "ended_at": "", "chief_complaint": "复诊", "diagnoses": ""},
        HTTP_ACCEPT_LANGUAGE=language,
    )
    assert response.status_code == 302
    encounter.refresh_from_db()
    assert encounter.chief_complaint == "复诊"
    assert timezone.localtime(encounter.started_at) == started
