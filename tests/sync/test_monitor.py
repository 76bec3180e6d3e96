"""The sync monitor page and API, endpoint registration, and who may see and act."""

import pytest
from django.urls import reverse

from sync.models import Delivery, DeliveryStatus, Endpoint
from sync.tasks import sync_sweep
from tests.problems import fields, problem

from .conftest import write_encounter

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager")]


@pytest.fixture
def failing(chain, city_endpoint, receiver):
    receiver.fail_next(502)
    _encounter, event = write_encounter(chain["township"])
    sync_sweep()
    return Delivery.objects.get(event=event)


def test_hospital_admin_sees_backlog_and_failures_with_retry(chain, failing, login, django_capture_on_commit_callbacks):
    client = login(chain["staff"]["hospital_admin"])
    page = client.get(reverse("sync-monitor"))
    assert page.status_code == 200
    html = page.content.decode()
    assert chain["city"].name in html and "HTTP 502" in html
    assert reverse("sync-delivery-retry", args=[failing.pk]) in html

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("sync-delivery-retry", args=[failing.pk]), follow=True)
    assert response.status_code == 200
    failing.refresh_from_db()
    assert failing.status == DeliveryStatus.DELIVERED


def test_monitor_page_is_chinese_by_default(chain, failing, login):
    html = login(chain["staff"]["hospital_admin"]).get(reverse("sync-monitor")).content.decode()
    assert 'lang="zh-hans"' in html


def test_consortium_admin_sees_the_monitor_and_can_replay_dead(chain, failing, login, django_capture_on_commit_callbacks):
    Delivery.objects.filter(pk=failing.pk).update(status=DeliveryStatus.DEAD)
    client = login(chain["staff"]["consortium_admin"])
    assert client.get(reverse("sync-monitor")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("sync-endpoint-replay-dead", args=[failing.endpoint_id]))
    assert response.status_code == 302
    failing.refresh_from_db()
    assert failing.status == DeliveryStatus.DELIVERED


def test_clinic_staff_and_outsiders_cannot_see_or_act(chain, failing, login):
    for name in ("clinician", "outsider", "insurance"):
        client = login(chain["staff"][name])
        assert client.get(reverse("sync-monitor")).status_code == 403
        assert client.post(reverse("sync-delivery-replay", args=[failing.pk])).status_code == 404
        for url in ("/api/v1/sync/monitor/", "/api/v1/sync/deliveries/", "/api/v1/sync/endpoints/"):
            problem(client.get(url), 403)
    problem(login(chain["staff"]["insurance"]).get("/api/v1/sync/batches/"), 403)
    assert login(chain["staff"]["clinician"]).get("/api/v1/sync/batches/").status_code == 200  # clinics upload batches


def test_monitor_api_reports_per_institution(chain, failing, login):
    data = login(chain["staff"]["hospital_admin"]).get("/api/v1/sync/monitor/").json()
    [row] = data["institutions"]
    assert row["institution"] == "CITY" and row["backlog"] == 1 and row["dead"] == 0
    assert row["endpoints"][0]["failing"] == 1
    [failure] = data["failures"]
    assert failure["id"] == failing.pk and failure["last_status_code"] == 502


def test_api_retry_and_replay(chain, failing, login, django_capture_on_commit_callbacks, receiver):
    client = login(chain["staff"]["hospital_admin"])
    response = client.post(f"/api/v1/sync/deliveries/{failing.pk}/replay/")
    assert problem(response, 400)["errors"][0]["code"] == "pending"
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/api/v1/sync/deliveries/{failing.pk}/retry/").json()["status"] == "pending"
    failing.refresh_from_db()
    assert failing.status == DeliveryStatus.DELIVERED
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/api/v1/sync/deliveries/{failing.pk}/replay/").json()["status"] == "pending"
    assert len(receiver.received) == 3 and len(set(receiver.keys())) == 1
    assert client.get("/api/v1/sync/deliveries/?status=delivered").json()["count"] == 1


def test_endpoint_registration_api(chain, login, receiver):
    client = login(chain["staff"]["hospital_admin"])
    response = client.post(
        "/api/v1/sync/endpoints/",
        {"institution": "CITY", "name": "HIS", "url": receiver.url, "events": ["encounter", "referral"]},
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    assert len(response.json()["secret"]) >= 32
    assert "secret" not in response.json()["endpoint"]
    assert Endpoint.objects.get().events == ["encounter", "referral"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"institution": "CITY", "name": "HIS", "url": "ftp://x/", "events": ["encounter"]}, "url"),
        ({"institution": "CITY", "name": "HIS", "url": "http://127.0.0.1:9/", "events": ["claims"]}, "events"),
        ({"institution": "CITY", "name": "HIS", "url": "http://127.0.0.1:9/", "events": []}, "events"),
        ({"institution": "NOPE", "name": "HIS", "url": "http://127.0.0.1:9/", "events": ["encounter"]}, "institution"),
        (
            {"institution": "CITY", "name": "HIS", "url": "http://127.0.0.1:9/", "events": ["encounter"], "secret": "short"},
            "secret",
        ),
    ],
)
def test_endpoint_registration_rejects_bad_input(chain, login, payload, field):
    response = login(chain["staff"]["hospital_admin"]).post("/api/v1/sync/endpoints/", payload, content_type="application/json")
    assert field in fields(response)
    assert not Endpoint.objects.exists()


def test_only_hospitals_register_endpoints_and_only_their_own(chain, login):
    payload = {"institution": "TOWN", "name": "HIS", "url": "http://127.0.0.1:9/", "events": ["encounter"]}
    hospital_admin = login(chain["staff"]["hospital_admin"])
    assert problem(hospital_admin.post("/api/v1/sync/endpoints/", payload, content_type="application/json"), 403)
    payload["institution"] = "CITY"
    # A consortium administrator registers nothing directly: a second administrator must approve a request.
    refused = login(chain["staff"]["consortium_admin"]).post("/api/v1/sync/endpoints/", payload, content_type="application/json")
    assert problem(refused, 403, "approval_required")
    assert (
        login(chain["staff"]["clinician"]).post("/api/v1/sync/endpoints/", payload, content_type="application/json").status_code
        == 403
    )
    assert not Endpoint.objects.exists()


def test_endpoint_registration_page(chain, login, receiver):
    client = login(chain["staff"]["hospital_admin"])
    assert client.get(reverse("sync-endpoint-new")).status_code == 200
    bad = client.post(reverse("sync-endpoint-new"), {"institution": chain["city"].pk, "name": "HIS", "url": "not a url"})
    assert bad.status_code == 200
    assert bad.context["form"].errors.keys() == {"url", "events"}
    assert not Endpoint.objects.exists()
    page = client.post(
        reverse("sync-endpoint-new"),
        {"institution": chain["city"].pk, "name": "HIS", "url": receiver.url, "events": ["encounter", "discharge"]},
    )
    endpoint = Endpoint.objects.get()
    assert endpoint.events == ["discharge", "encounter"]
    assert endpoint.secret in page.content.decode()


def test_endpoint_registration_page_refuses_clinics_and_other_hospitals(chain, login):
    assert login(chain["staff"]["clinician"]).get(reverse("sync-endpoint-new")).status_code == 403
    other = chain["outsider"]
    response = login(chain["staff"]["hospital_admin"]).post(
        reverse("sync-endpoint-new"),
        {"institution": other.pk, "name": "HIS", "url": "http://127.0.0.1:9/", "events": ["encounter"]},
    )
    assert response.status_code == 200 and "institution" in response.context["form"].errors
    assert not Endpoint.objects.exists()
