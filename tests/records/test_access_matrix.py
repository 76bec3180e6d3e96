"""The access matrix, generated: every role x relation of the patient x consent x visit x endpoint.

The endpoints are listed from the URLconf (every route with a patient id in it, web and API), so a
new patient endpoint is covered without editing this test; the expected answer is derived from the
permission table (``consortium.permissions.RULES``) by the rules of :mod:`records.access`:

* the whole record: the patient's home institution is the reader's own and the role may view
  patients there, or the patient consents and the role may read shared records of the home
  institution (the relation's rules in the table);
* only the reader's own visits: the role may view patients at its own institution and the patient
  had a visit there;
* nothing (404) otherwise.

The test fails if it finds no endpoint, or fewer than the ones it knows exist today.
"""

import itertools
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from consortium.models import CONSORTIUM_ROLES, ApiClient, ApiClientKind, StaffRole
from consortium.permissions import MEMBER_SYSTEM_ROLE, Action, Relation, allowed_actions, can, relation_to, staff_of
from tests.factories import EncounterFactory, PatientFactory, StaffFactory

pytestmark = pytest.mark.django_db

PATIENT_ARG = re.compile(r"patients/<int:(pk|patient_id|patient_pk)>")


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def patient_endpoints() -> list[str]:
    """Every route of the URLconf that names a patient by id, as a format string with ``{pk}``."""
    routes = []
    for route, _entry in _walk(get_resolver().url_patterns):
        if PATIENT_ARG.search(route):
            routes.append("/" + PATIENT_ARG.sub(lambda m: "patients/{pk}", route).lstrip("^").rstrip("$"))
    return sorted(set(routes))


def test_the_urlconf_lists_the_patient_endpoints():
    routes = patient_endpoints()
    assert routes, "no patient endpoint found in the URLconf"
    for known in (
        "/records/patients/{pk}/",
        "/api/v1/patients/{pk}/",
        "/api/v1/patients/{pk}/summary/",
        "/api/v1/patients/{pk}/fhir/",
        "/api/v1/patients/{pk}/access-log/",
    ):
        assert known in routes


def _table_has(staff, action: Action, relation: Relation) -> bool:
    return action in allowed_actions(staff, relation)


def expected_read(staff, patient, consents: bool, visited_own: bool) -> str:
    """'full', 'visits' or 'none', from the permission table."""
    if staff is None:
        return "none"
    relation = relation_to(staff, patient.home_institution)
    own_view = staff.institution_id is not None and _table_has(staff, Action.VIEW_PATIENT, Relation.OWN)
    if relation == Relation.OWN and own_view:
        return "full"
    if consents and _table_has(staff, Action.VIEW_SHARED_RECORD, relation):
        return "full"
    if own_view and visited_own:
        return "visits"
    return "none"


def _home_is_own(staff, patient) -> bool:
    return staff.institution_id is not None and relation_to(staff, patient.home_institution) == Relation.OWN


def expected_status(route: str, read: str, staff, patient) -> set[int]:
    """The statuses the rules allow; routes with a stricter rule than "read the record" are named here."""
    if route.endswith(("/access-log/", "/access-log/print/")):  # who read the record: the home institution only
        return {200} if _home_is_own(staff, patient) and _table_has(staff, Action.VIEW_ACCESS_LOG, Relation.OWN) else {404}
    if route.endswith("/consent/"):  # recorded by the home institution (POST only)
        return {302} if _home_is_own(staff, patient) and _table_has(staff, Action.REGISTER_PATIENT, Relation.OWN) else {404}
    if route.endswith("/enrol/"):  # insurance enrolment: the registrars of the patient's home institution
        may_register = can(staff.user, Action.REGISTER_PATIENT, patient.home_institution_id)
        return {200} if read != "none" and may_register else {404}
    if route.endswith("/edit/"):  # corrections to the patient's details: the home institution's registrars
        return {200} if _home_is_own(staff, patient) and _table_has(staff, Action.REGISTER_PATIENT, Relation.OWN) else {404}
    if route.endswith("/household/"):  # the home clinic records the household's income band
        return {200} if _home_is_own(staff, patient) and _table_has(staff, Action.RECORD_ENCOUNTER, Relation.OWN) else {404}
    if route.endswith(("/visits/new/", "/allergies/")):  # writes at the reader's own institution
        may_record = staff.institution_id is not None and _table_has(staff, Action.RECORD_ENCOUNTER, Relation.OWN)
        if not may_record:
            return {403, 404}
        return {200, 302} if read != "none" else {404}
    return {404} if read == "none" else {200}


@pytest.fixture
def principals(chain):
    """Every role of the table, each at its natural institution, plus a member institution's own HIS."""
    staff = dict(chain["staff"])
    staff.pop("outsider")
    present = {member.role for member in staff.values()}
    for role in StaffRole.values:  # roles added by later apps (a centre's reader, a family doctor) too
        if role not in present:
            scope = {"consortium": chain["consortium"]} if role in CONSORTIUM_ROLES else {}
            staff[role] = StaffFactory(user__username=f"matrix-{role}", institution=chain["city"], role=role, **scope)
    clients = {}
    for key, member in staff.items():
        api = APIClient()
        api.force_login(member.user)
        clients[key] = (member, api)
    client = ApiClient(name="HIS", kind=ApiClientKind.MEMBER_SYSTEM, institution=chain["township"])
    token = client.issue_token()
    client.save()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    clients["his"] = (None, api)
    return clients


def test_every_role_relation_consent_visit_and_endpoint(chain, principals):
    routes = patient_endpoints()
    assert routes, "no patient endpoint found"
    homes = ("township", "village", "city", "outsider")
    cases = []
    for home, consents, visited in itertools.product(homes, (True, False), ("township", "city")):
        patient = PatientFactory(home_institution=chain[home], consents_to_sharing=consents)
        marker = f"HOMEVISIT{patient.pk}X"
        EncounterFactory(patient=patient, institution=chain[home], chief_complaint=marker)
        if visited and visited != home:
            EncounterFactory(patient=patient, institution=chain[visited], chief_complaint="外院就诊")
        cases.append((patient, consents, visited, marker))
    roles_seen, checked, failures = set(), 0, []
    for key, (member, api) in principals.items():
        for patient, consents, visited, marker in cases:
            if member is None:  # the HIS: resolve the pseudo staff record the API authentication builds
                response = api.get(f"/api/v1/patients/{patient.pk}/")
                user = response.wsgi_request.user
                staff = staff_of(user)
            else:
                staff = member
            role = staff.role if staff else MEMBER_SYSTEM_ROLE
            roles_seen.add(role)
            own = staff.institution_id if staff else None
            visited_own = own is not None and (
                patient.home_institution_id == own or (visited is not None and chain[visited].pk == own)
            )
            read = expected_read(staff, patient, consents, visited_own)
            for route in routes:
                if member is None and not route.startswith("/api/"):
                    continue  # a system calls the API only
                url = route.format(pk=patient.pk)
                response = api.get(url)
                if response.status_code == 405:  # a form that only posts: post it empty
                    response = api.post(url, {})
                status = response.status_code
                checked += 1
                allowed = expected_status(route, read, staff, patient)
                if status not in allowed:
                    failures.append(
                        f"{key} {url} ({patient.home_institution.code}, consent={consents}, visit={visited}): "
                        f"{status}, expected {sorted(allowed)} [{read}]"
                    )
                    continue
                if status == 200 and (route.endswith(("/summary/", "/fhir/")) or route == "/records/patients/{pk}/"):
                    # The home institution's visit belongs to the whole record only.
                    shown = marker in response.content.decode()
                    if shown != (read == "full"):
                        failures.append(f"{key} {url}: home visit shown={shown}, expected read {read}")
    assert set(StaffRole.values) <= roles_seen
    assert MEMBER_SYSTEM_ROLE in roles_seen
    assert checked > len(cases) * len(routes), checked
    assert not failures, "\n".join(failures[:40]) + f"\n({len(failures)} of {checked})"


def test_list_and_search_show_a_patient_exactly_when_readable(chain, principals):
    """The list endpoint (and so search, which filters it) holds no patient the reader may not read."""
    from records.access import readable_patients

    cases = []
    for home, consents, visited in itertools.product(("township", "village", "city"), (True, False), (None, "township")):
        patient = PatientFactory(home_institution=chain[home], consents_to_sharing=consents)
        if visited and visited != home:
            EncounterFactory(patient=patient, institution=chain[visited])
        cases.append((patient, consents, visited))
    for key, (member, api) in principals.items():
        response = api.get("/api/v1/patients/", {"limit": 500})
        listed = {row["id"] for row in response.json()["results"]} if response.status_code == 200 else set()
        user = response.wsgi_request.user
        staff = staff_of(user)
        for patient, consents, visited in cases:
            own = staff.institution_id if staff else None
            visited_own = own is not None and (patient.home_institution_id == own or (visited and chain[visited].pk == own))
            expected = expected_read(staff, patient, consents, visited_own) != "none"
            assert (patient.pk in listed) is expected, (key, patient.home_institution.code, consents, visited)
            assert readable_patients(user).filter(pk=patient.pk).exists() is expected
