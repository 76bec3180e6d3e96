"""A visit at 02:00 Beijing time (18:00 UTC the day before) is dated by its Beijing day everywhere a referral shows it."""

import datetime

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from records.models import Observation
from records.selectors import clinical_summary
from tests.clock import frozen_at
from tests.factories import DiagnosisFactory, EncounterFactory

pytestmark = pytest.mark.django_db

BEIJING_2AM = datetime.datetime.fromisoformat("2026-12-02T02:00+08:00")


def test_the_clinical_summary_snapshot_dates_a_2am_visit_by_its_beijing_day(setting, login):
    encounter = EncounterFactory(patient=setting.patient, institution=setting.township, started_at=BEIJING_2AM)
    DiagnosisFactory(encounter=encounter, code="E11.9", description="2型糖尿病")
    Observation.objects.create(
        encounter=encounter, kind="vital", code="8480-6", name="收缩压", value=162, unit="mmHg", observed_at=BEIJING_2AM
    )
    summary = clinical_summary(setting.patient)
    diabetes = next(d for d in summary["diagnoses"] if d["code"] == "E11.9")
    assert diabetes["date"].startswith("2026-12-02")
    client = login(setting.staff["clinician"])
    with frozen_at("2026-12-02T02:30+08:00"):
        page = client.get(reverse("referrals:create") + f"?encounter={encounter.pk}").content.decode()
    assert "2型糖尿病 · 2026-12-02" in page
    assert "收缩压 162" in page and "2026-12-02 02:00" in page
    assert "2026-12-01" not in page


def test_snapshots_written_in_utc_are_shown_on_their_beijing_day():
    snapshot = {
        "diagnoses": [{"code": "I10", "description": "原发性高血压", "date": "2026-12-01T18:00:00+00:00"}],
        "medications": [{"drug": "硝苯地平", "dose": "", "frequency": "", "days": None, "date": "2026-12-01T18:00:00+00:00"}],
        "vitals": [{"code": "SBP", "name": "收缩压", "value": "162", "unit": "mmHg", "observed_at": "2026-12-01T18:00:00+00:00"}],
    }
    html = render_to_string("referrals/_snapshot.html", {"snapshot": snapshot})
    assert "原发性高血压 · 2026-12-02" in html and "硝苯地平" in html and "2026-12-02 02:00" in html
    assert "2026-12-01" not in html


def test_todays_visits_to_refer_include_one_at_2am_beijing(setting, login):
    encounter = EncounterFactory(patient=setting.patient, institution=setting.township, started_at=BEIJING_2AM)
    client = login(setting.staff["clinician"])
    with frozen_at("2026-12-02T02:30+08:00"):
        page = client.get(reverse("referrals:create"))
    assert encounter in list(page.context["encounters"])


def test_a_visit_of_last_week_is_referred_from_its_button(setting, login):
    """The 转诊 button on the timeline and the visit page; the new-referral list holds the last 30 days."""
    with frozen_at("2026-12-09T10:00+08:00"):
        week_old = EncounterFactory(patient=setting.patient, institution=setting.township, started_at=BEIJING_2AM)
        old = EncounterFactory(
            patient=setting.patient, institution=setting.township, started_at=BEIJING_2AM - datetime.timedelta(days=40)
        )
        client = login(setting.staff["clinician"])
        link = reverse("referrals:create") + f"?encounter={week_old.pk}"
        timeline = client.get(reverse("records:patient-detail", args=[setting.patient.pk])).content.decode()
        assert f'href="{link}"' in timeline
        assert f"?encounter={old.pk}" not in timeline
        visit_page = client.get(reverse("records:encounter-edit", args=[week_old.pk])).content.decode()
        assert f'href="{link}"' in visit_page
        listed = list(client.get(reverse("referrals:create")).context["encounters"])
        assert week_old in listed and old not in listed
        assert client.get(link).status_code == 200
