"""The read-replica router: which reads may go to the replica, and the pin to the primary after a write.

Tested with the router's unit tests only: CI starts no streaming replica, so here the alias
``replica`` is declared present (``replica_configured``) and the router's answers are checked,
without a query ever being sent to a second server.
"""

import pytest
from django.db import DEFAULT_DB_ALIAS, transaction
from django.http import HttpResponse, StreamingHttpResponse
from django.test import RequestFactory

from consortium import routing
from consortium.models import Institution
from consortium.routing import PIN_COOKIE, REPLICA, PrimaryPinMiddleware, ReplicaRouter, reads_from_replica, replica_reads

router = ReplicaRouter()


@pytest.fixture
def replica(monkeypatch):
    monkeypatch.setattr(routing, "replica_configured", lambda: True)


def read_alias() -> str:
    return router.db_for_read(Institution)


def in_request(view, request):
    """Run ``view`` behind the pin middleware, as a request would."""
    return PrimaryPinMiddleware(view)(request)


def test_without_a_replica_every_read_is_the_primary():
    with replica_reads():
        assert read_alias() == DEFAULT_DB_ALIAS


def test_only_reads_a_view_opted_into_go_to_the_replica(replica):
    seen = {}

    def plain(request):
        seen["plain"] = read_alias()
        return HttpResponse()

    @reads_from_replica
    def dashboard(request):
        seen["dashboard"] = read_alias()
        return HttpResponse()

    in_request(plain, RequestFactory().get("/"))
    in_request(dashboard, RequestFactory().get("/"))
    assert seen == {"plain": DEFAULT_DB_ALIAS, "dashboard": REPLICA}
    assert read_alias() == DEFAULT_DB_ALIAS  # outside the view: the primary again


def test_a_write_pins_the_rest_of_the_request_to_the_primary(replica):
    seen = []

    @reads_from_replica
    def view(request):
        seen.append(read_alias())
        assert router.db_for_write(Institution) == DEFAULT_DB_ALIAS
        seen.append(read_alias())
        return HttpResponse()

    in_request(view, RequestFactory().get("/"))
    in_request(view, RequestFactory().get("/"))  # the next request starts unpinned
    assert seen == [REPLICA, DEFAULT_DB_ALIAS, REPLICA, DEFAULT_DB_ALIAS]


def test_a_post_that_wrote_pins_the_browser_for_a_few_seconds(replica, settings):
    settings.REPLICA_PIN_SECONDS = 7

    def write(request):
        router.db_for_write(Institution)
        return HttpResponse()

    def read_only(request):
        return HttpResponse()

    response = in_request(write, RequestFactory().post("/"))
    assert response.cookies[PIN_COOKIE]["max-age"] == 7
    assert PIN_COOKIE not in in_request(read_only, RequestFactory().post("/")).cookies
    seen = []

    @reads_from_replica
    def page(request):
        seen.append(read_alias())
        return HttpResponse()

    request = RequestFactory().get("/")
    request.COOKIES[PIN_COOKIE] = "1"
    in_request(page, request)
    in_request(page, RequestFactory().get("/"))
    assert seen == [DEFAULT_DB_ALIAS, REPLICA]


def test_a_views_post_is_never_served_by_the_replica(replica):
    seen = []

    @reads_from_replica
    def form(request):
        seen.append(read_alias())
        return HttpResponse()

    in_request(form, RequestFactory().post("/"))
    assert seen == [DEFAULT_DB_ALIAS]


def test_a_streamed_export_reads_the_replica_while_it_streams(replica):
    seen = []

    def rows():
        for n in range(3):
            seen.append(read_alias())
            yield f"{n}\n"

    @reads_from_replica
    def export(request):
        return StreamingHttpResponse(rows())

    response = in_request(export, RequestFactory().get("/"))
    assert b"".join(response.streaming_content) == b"0\n1\n2\n"
    assert seen == [REPLICA] * 3


@pytest.mark.django_db(transaction=True)
def test_a_read_inside_a_transaction_stays_on_the_primary(replica):
    with replica_reads():
        assert read_alias() == REPLICA
        with transaction.atomic():
            assert read_alias() == DEFAULT_DB_ALIAS


def test_migrations_run_on_the_primary_only():
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "records") is True
    assert router.allow_migrate(REPLICA, "records") is False


@pytest.mark.parametrize(
    "view",
    [
        "dashboard.views.dashboard",
        "dashboard.views.chart_csv",
        "dashboard.views.fund_transparency",
        "dashboard.views.warning_list",
        "referrals.views.referral_list",
    ],
)
def test_dashboards_exports_and_lists_are_marked_for_the_replica(view):
    import importlib

    module, name = view.rsplit(".", 1)
    function = getattr(importlib.import_module(module), name)
    assert getattr(function, "reads_from_replica", False) or getattr(function.__wrapped__, "reads_from_replica", False)


def test_the_replica_is_a_mirror_of_the_primary_in_tests(tmp_path):
    import json

    from .test_settings import run_python

    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({k: {'host': v.get('HOST'), 'test': v.get('TEST', {})} for k, v in s.DATABASES.items()}))"
    )
    result = run_python(
        code,
        tmp_path,
        DATABASE_URL="postgres://u:p@primary:5432/db",
        DATABASE_REPLICA_URL="postgres://u:p@replica:5432/db",
        STORAGE_URL="",
        S3_BUCKET="",
    )
    assert result.returncode == 0, result.stderr
    databases = json.loads(result.stdout.strip().splitlines()[-1])
    assert databases["default"]["host"] == "primary" and databases["replica"]["host"] == "replica"
    assert databases["replica"]["test"]["MIRROR"] == "default"
