"""Headers and exposure: a CSP on every page, no-store on every rendered answer, no inline code in any
template, /healthz without host names for anonymous callers, the schema behind sign-in in production."""

import re
from pathlib import Path

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from config import health
from tests.factories import PatientFactory
from tests.test_settings import PRODUCTION_KEYS, run_python

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent
INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|<style\b|\sstyle\s*=", re.IGNORECASE)


def _routes(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and "<" not in str(entry.pattern) and "(?P" not in str(entry.pattern):
            yield "/" + (prefix + str(entry.pattern)).lstrip("^").rstrip("$")


def test_no_template_has_inline_script_handler_or_style():
    offenders = []
    for template in ROOT.glob("**/templates/**/*.html"):
        if ".venv" in template.parts:
            continue
        for number, line in enumerate(template.read_text().splitlines(), 1):
            if INLINE.search(line):
                offenders.append(f"{template.relative_to(ROOT)}:{number}")
    assert not offenders, offenders


def test_every_page_without_arguments_has_the_csp_and_no_store(chain, client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="x-root-pass-1"))
    checked = 0
    for route in sorted(set(_routes(get_resolver().url_patterns))):
        if route.startswith(("/logout", "/admin/logout", "/i18n/")):
            continue
        response = client.get(route)
        if response.status_code >= 500 or response.status_code == 405:
            continue
        policy = response.get("Content-Security-Policy", "")
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, route
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy, route
        assert "no-store" in response["Cache-Control"], route
        checked += 1
    assert checked > 20, checked


def test_patient_pages_and_api_answers_are_not_stored(chain, login):
    patient = PatientFactory(home_institution=chain["township"])
    client = login(chain["staff"]["clinician"])
    for url in (reverse("records:patient-detail", args=[patient.pk]), f"/api/v1/patients/{patient.pk}/", "/api/v1/patients/"):
        response = client.get(url)
        assert response.status_code == 200 and "no-store" in response["Cache-Control"], url


def test_static_files_keep_their_cache(client):
    response = client.get("/static/js/site.js")
    if response.status_code == 200:  # served by WhiteNoise (finders on in development)
        assert response.get("Cache-Control", "") != "no-store"


def test_healthz_names_no_worker_host_to_anonymous_callers(client, monkeypatch, django_user_model):
    monkeypatch.setattr(health, "check_workers", lambda timeout=1.0: {"workers": ["celery@secret-host-7"]})
    anonymous = client.get("/healthz")
    assert "secret-host-7" not in anonymous.content.decode() and anonymous.json()["worker"]["workers"] == 1
    client.force_login(django_user_model.objects.create_user("ops"))
    assert "secret-host-7" in client.get("/healthz").content.decode()


def test_schema_and_docs_need_sign_in_in_production(tmp_path):
    code = "import django; django.setup(); from django.conf import settings as s; print(s.API_SCHEMA_REQUIRES_LOGIN)"
    production = run_python(
        code, tmp_path, CONSORTIUM_ENV="production", SECRET_KEY="k" * 60, ALLOWED_HOSTS="x.example", **PRODUCTION_KEYS
    )
    assert production.stdout.split()[-1] == "True", production.stderr
    assert run_python(code, tmp_path).stdout.split()[-1] == "False"
    assert run_python(code, tmp_path, API_SCHEMA_REQUIRES_LOGIN="1").stdout.split()[-1] == "True"


def test_schema_behind_sign_in_refuses_anonymous_and_answers_the_signed_in(client, settings, django_user_model):
    settings.API_SCHEMA_REQUIRES_LOGIN = True
    assert client.get("/api/schema/").status_code in (401, 403)
    assert client.get("/api/docs/").status_code in (401, 403)
    client.force_login(django_user_model.objects.create_user("reader"))
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"<script>" not in docs.content
