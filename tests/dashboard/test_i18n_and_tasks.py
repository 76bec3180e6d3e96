"""The dashboard's own catalogue is complete; its Celery tasks are discovered and run in a real worker."""

import datetime
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from dashboard.models import ExpenditureWarning, IndicatorValue
from tests.factories import ChargeItemFactory, EncounterFactory, PatientFactory

APP = Path(settings.BASE_DIR) / "dashboard"
PO = APP / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def test_catalogue_has_no_empty_or_fuzzy_entry():
    po = polib.pofile(str(PO))
    assert [e.msgid for e in po.untranslated_entries()] == []
    assert [e.msgid for e in po.fuzzy_entries()] == []


def test_compiled_catalogue_matches_its_source():
    compiled = {e.msgid: e.msgstr for e in polib.mofile(str(PO.with_suffix(".mo"))) if e.msgid}
    assert compiled == {e.msgid: e.msgstr for e in polib.pofile(str(PO)).translated_entries()}


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs GNU gettext")
def test_every_string_of_the_app_is_in_the_catalogue(tmp_path):
    copy = tmp_path / "dashboard"
    shutil.copytree(APP, copy, ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "django-admin"), "makemessages", "-l", "zh_Hans", "--no-obsolete"],
        cwd=copy, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONPATH": str(settings.BASE_DIR),
             "CONSORTIUM_VAR_DIR": str(tmp_path / "var")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    fresh = polib.pofile(str(copy / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"))
    assert [e.msgid for e in fresh.untranslated_entries()] == []


def test_english_and_chinese_pages(chain, login):
    client = login(chain["staff"]["consortium_admin"])
    assert "城乡均衡监测看板" in client.get(reverse("dashboard:index")).content.decode()
    with translation.override("en"):
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        body = client.get(reverse("dashboard:index"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Equalization dashboard" in body and "Share of visits at primary level" in body


def test_the_tasks_are_discovered():
    from config.celery import app

    app.loader.import_default_modules()
    assert "dashboard.tasks.rollup_indicators" in app.tasks
    assert "dashboard.tasks.recompute_expenditure_warnings" in app.tasks
    beat = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {"dashboard.tasks.rollup_indicators", "dashboard.tasks.recompute_expenditure_warnings"} <= beat


@pytest.mark.worker
def test_the_roll_up_and_the_warnings_run_in_a_real_worker(chain, celery_worker_process):
    from config.celery import app  # not the "current" app, which another test may have replaced

    patient = PatientFactory(home_institution=chain["village"])
    encounter = EncounterFactory(patient=patient, started_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1))
    ChargeItemFactory(encounter=encounter, quantity=1, unit_price=25000, amount=25000)
    app.send_task("dashboard.tasks.rollup_indicators", kwargs={"months": 2})
    app.send_task("dashboard.tasks.recompute_expenditure_warnings")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if IndicatorValue.objects.filter(
            indicator="primary_visit_share", scope="township", scope_id=chain["township"].pk
        ).exists() and (ExpenditureWarning.objects.filter(patient=patient).exists()):
            break
        time.sleep(0.3)
    log = celery_worker_process.log_path.read_text(errors="replace")[-3000:]
    row = IndicatorValue.objects.filter(indicator="primary_visit_share", scope="township", scope_id=chain["township"].pk).first()
    assert row is not None, log
    assert (row.numerator, row.denominator) == (1, 1)
    assert ExpenditureWarning.objects.get(patient=patient).institution == chain["township"]
