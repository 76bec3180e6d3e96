"""/healthz reports database, broker and worker as JSON, with 503 when one is down."""

import pytest
from celery import Celery

from config import health

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down(monkeypatch):
    """Give the health check a Celery app whose broker cannot be reached."""
    unreachable = Celery("broker-down", broker="redis://127.0.0.1:9/0", set_as_current=False)  # nothing listens on 9
    unreachable.conf.broker_connection_timeout = 1
    monkeypatch.setattr(health, "celery_app", unreachable)
    yield


@pytest.mark.worker
def test_healthz_all_up_with_a_real_worker(client, celery_worker_process, django_user_model):
    anonymous = client.get("/healthz").json()
    assert anonymous["worker"]["workers"] == 1 and celery_worker_process.hostname not in str(anonymous)
    client.force_login(django_user_model.objects.create_user("ops"))
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["database"]["status"] == body["broker"]["status"] == body["worker"]["status"] == "ok"
    assert celery_worker_process.hostname in body["worker"]["workers"]


def test_healthz_without_a_worker_is_503(client, settings):
    settings.HEALTHZ_WORKER_TIMEOUT = 0.3
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["database"]["status"] == "ok"
    assert body["broker"]["status"] == "ok"
    assert body["worker"]["status"] == "down"


def test_healthz_with_the_broker_down_is_503(client, broker_down):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["broker"]["status"] == "down"
    assert body["database"]["status"] == "ok"
    assert body["worker"]["status"] == "unknown"


def test_healthz_needs_no_login_and_is_not_cached(client, settings):
    settings.HEALTHZ_WORKER_TIMEOUT = 0.1
    response = client.get("/healthz")
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
