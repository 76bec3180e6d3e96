"""Error pages people can act on: in both languages, with navigation, never a bare status or a technical page."""

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from config import errors
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("language", "text"), [("zh-hans", "此患者未在您的机构建档"), ("en", "This patient is not registered at your institution")]
)
def test_another_institutions_patient_is_a_friendly_404_offering_break_glass(chain, login, language, text):
    patient = PatientFactory(home_institution=chain["outsider"])
    client = login(chain["staff"]["clinician"])
    response = client.get(reverse("records:patient-detail", args=[patient.pk]), HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 404
    page = response.content.decode()
    assert text in page
    assert reverse("records:break-glass") in page and 'class="mainnav"' in page
    assert patient.name not in page


def test_a_404_elsewhere_has_navigation_and_no_break_glass(chain, login):
    response = login(chain["staff"]["clerk"]).get("/records/no-such-page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert 'class="mainnav"' in page and reverse("records:break-glass") not in page


def test_403_is_a_page_with_navigation(chain, login):
    response = login(chain["staff"]["clinician"]).get(reverse("referrals:slots"))
    assert response.status_code == 403
    assert "您的角色无权执行此操作" in response.content.decode() and 'class="mainnav"' in response.content.decode()


def test_get_on_an_action_url_goes_to_the_object(chain, login):
    patient = PatientFactory(home_institution=chain["township"])
    client = login(chain["staff"]["clerk"])
    url = reverse("records:patient-consent", args=[patient.pk])
    response = client.get(url, HTTP_ACCEPT="text/html,application/xhtml+xml")
    assert response.status_code == 302 and response.url == reverse("records:patient-detail", args=[patient.pk])
    assert client.get(url, HTTP_ACCEPT="application/json").status_code == 405


def test_csrf_failure_explains_and_keeps_navigation(chain):
    client = Client(enforce_csrf_checks=True)
    client.force_login(chain["staff"]["clerk"].user)
    response = client.post(reverse("records:patient-register"), {"name": "x"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 403
    page = response.content.decode()
    assert "表单无法提交" in page and "CSRF" not in page and 'class="mainnav"' in page


def test_500_page_needs_nothing_from_the_database():
    request = RequestFactory().get("/")
    response = errors.server_error(request)
    assert response.status_code == 500 and "出错" in response.content.decode()


@pytest.mark.parametrize(("language", "text"), [("zh-hans", "此患者未在您的机构建档"), ("en", "This patient is not registered")])
def test_with_debug_on_as_in_the_demo_the_404_is_still_the_friendly_page(chain, login, settings, language, text):
    settings.DEBUG = True
    patient = PatientFactory(home_institution=chain["outsider"])
    client = login(chain["staff"]["clinician"])
    response = client.get(reverse("records:patient-detail", args=[patient.pk]), HTTP_ACCEPT_LANGUAGE=language)
    page = response.content.decode()
    assert response.status_code == 404 and text in page and reverse("records:break-glass") in page
    assert "URLconf" not in page and "Traceback" not in page and "Http404" not in page and patient.name not in page
    unknown = client.get("/records/no-such-page/", HTTP_ACCEPT_LANGUAGE=language)
    assert unknown.status_code == 404 and 'class="mainnav"' in unknown.content.decode()
    assert "URLconf" not in unknown.content.decode()


def test_with_debug_on_the_api_keeps_its_problem_details(chain, login, settings):
    settings.DEBUG = True
    response = login(chain["staff"]["clinician"]).get("/api/v1/patients/999999/")
    assert response.status_code == 404 and response["Content-Type"].startswith("application/problem+json")
