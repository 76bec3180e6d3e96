"""Every page and API answer that shows patients is in the access log: walked from the URLconf.

The demo consortium is loaded, every patient gets a name no other text on a page can contain
(``患者<id>号``), and each demo login requests every GET route of the URLconf that needs no
argument, plus the list routes with an id in them (a team's panel, a centre's worklist, ...).
Whenever an answer shows a patient's name, the request must have written the access log of that
patient: a list entry (``ListAccessLog``) naming the patient, or an entry of the patient's own access
log (a read).  A new list page or API is therefore covered without editing this test; it fails if it
finds no route, or too few answers that show patients.
"""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from rest_framework.test import APIClient

from chronic.models import Team
from config.demo import seed_demo_consortium
from config.demo_data import DEMO_LOGINS
from consortium.permissions import staff_of
from diagnostics.models import Centre
from insurance.models import ReconciliationRun
from records.list_access import list_purpose_of
from records.models import AccessLog, ListAccessLog, Patient

pytestmark = pytest.mark.django_db

MARK = re.compile(r"患者(\d+)号")
#: Never walked: they sign out, change state on GET by design, or stream large files.
SKIPPED = {"logout", "set_language"}
ARG = re.compile(r"<[^>]+>")


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def routes() -> list[tuple[str, object, object]]:
    walked = _walk(get_resolver().url_patterns)
    return [("/" + route.lstrip("^").rstrip("$"), entry.name, entry.callback) for route, entry in walked]


#: List routes with an id in them, and where the walk takes the ids from (a few of each).
ID_ROUTES = {
    "/chronic/teams/<int:pk>/": Team,
    "/api/v1/chronic/teams/<int:pk>/panel/": Team,
    "/diagnostics/centres/<int:pk>/worklist/": Centre,
    "/insurance/reconciliations/<int:pk>/": ReconciliationRun,
    "/dashboard/patients/<int:pk>/household/": Patient,
}


def _id_routes() -> dict[str, list[int]]:
    return {route: list(model.objects.order_by("pk").values_list("pk", flat=True)[:8]) for route, model in ID_ROUTES.items()}


def targets() -> list[str]:
    filled = _id_routes()
    urls = []
    for route, name, _callback in routes():
        if name in SKIPPED or route.startswith(("/admin/", "/static/", "/media/")):
            continue
        if route in filled:
            urls += [route.replace("<int:pk>", str(pk)) for pk in filled[route]]
        elif not ARG.search(route) and "(?P<" not in route and not route.endswith(".csv"):
            urls.append(route)
    return urls


def logged_patients(before_list: int, before_read: int) -> set[int]:
    ids: set[int] = set()
    for row in ListAccessLog.objects.filter(pk__gt=before_list).values_list("patient_ids", flat=True):
        ids.update(row)
    ids.update(AccessLog.objects.filter(pk__gt=before_read).values_list("patient_id", flat=True))
    return ids


def _last(model) -> int:
    return model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


@pytest.fixture
def demo_world():
    seed_demo_consortium()
    for pk in Patient.objects.values_list("pk", flat=True):
        Patient.objects.filter(pk=pk).update(name=f"患者{pk}号")
    return DEMO_LOGINS


def test_every_answer_that_shows_patients_logs_them(demo_world, django_user_model):
    urls = targets()
    assert len(urls) > 60, "too few routes found in the URLconf"
    showing, missing, denials = set(), [], 0
    for username, *_rest in demo_world:
        client = APIClient()
        client.force_login(django_user_model.objects.get(username=username))
        for url in urls:
            before_list, before_read = _last(ListAccessLog), _last(AccessLog)
            response = client.get(url, HTTP_USER_AGENT="walker/1")
            entries = list(ListAccessLog.objects.filter(pk__gt=before_list))
            assert len(entries) <= 1, f"{url}: {len(entries)} list entries for one request"
            for entry in entries:
                purpose = list_purpose_of(resolve(url).func)
                assert (entry.path, entry.user.username, entry.user_agent, entry.purpose) == (url, username, "walker/1", purpose)
                assert entry.ip == "127.0.0.1" and entry.institution_id == staff_of(entry.user).institution_id
                assert entry.outcome == ("allowed" if response.status_code < 400 else "denied"), (url, response.status_code)
                if entry.outcome == "denied":
                    assert entry.patient_ids == []
                    denials += 1
            if response.status_code != 200 or getattr(response, "streaming", False):
                continue
            shown = {int(pk) for pk in MARK.findall(response.content.decode("utf-8", "replace"))}
            if not shown:
                continue
            showing.add(url)
            unlogged = shown - logged_patients(before_list, before_read)
            if unlogged:
                missing.append(f"{username} {url}: {len(unlogged)} of {len(shown)} patients shown but not logged")
    assert not missing, "\n".join(missing)
    assert len(showing) >= 10, sorted(showing)
    assert denials, "no refused list request was logged"


def test_every_audited_list_route_is_known_to_the_walk():
    """A view wrapped as a list is reachable by the walk (no argument, or an id the walk fills in)."""
    audited = [route for route, _name, callback in routes() if list_purpose_of(callback)]
    assert audited, "no audited list found in the URLconf"
    for route in audited:
        assert not ARG.search(route) or route in ID_ROUTES, route
