"""Machine credentials under control: API tokens issued, rotated and revoked only by the owner's
administrator (a consortium administrator only with a second person's approval), shown once on a
page and never in a cookie, stored hashed, expiring; the admin is no side door."""

import datetime
import itertools

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from consortium import approvals, tokens
from consortium.approvals import REQUEST_TRANSITIONS, advance_request
from consortium.errors import Conflict, IllegalTransition, Invalid, NotPermitted
from consortium.models import ApiClient, AuditEvent, MachineAccessRequest, MachineAccessStatus, StaffRole, hash_api_token
from sync import endpoints
from sync.models import Endpoint
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def second_admin(chain):
    return StaffFactory(
        user__username="cadmin2", institution=None, consortium=chain["consortium"], role=StaffRole.CONSORTIUM_ADMINISTRATOR
    )


def _bearer(client, token):
    return client.get("/api/v1/institutions/", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_the_hospital_administrator_issues_a_token_shown_once_on_the_page_never_in_a_cookie(chain, login, client):
    page = login(chain["staff"]["hospital_admin"]).post(
        reverse("machine-access-token-new"), {"owner": f"i{chain['city'].pk}", "name": "市医院 HIS"}
    )
    assert page.status_code == 200
    html = page.content.decode()
    token = html.split('id="shown-secret">')[1].split("<")[0]
    assert len(token) >= 40
    assert "no-store" in page["Cache-Control"]
    assert all(token not in morsel.value for morsel in page.cookies.values())
    assert all(token not in morsel.value for morsel in client.cookies.values())
    api_client = ApiClient.objects.get()
    assert api_client.token_hash == hash_api_token(token) and token not in str(api_client.__dict__)
    assert api_client.expires_at > timezone.now() + datetime.timedelta(days=300)
    audit = AuditEvent.objects.get(action="consortium.api_token_issued")
    assert audit.actor == chain["staff"]["hospital_admin"].user and token not in str(audit.detail)
    listing = client.get(reverse("machine-access")).content.decode()
    assert api_client.token_prefix in listing and token not in listing
    client.logout()
    assert _bearer(client, token).status_code == 200
    assert ApiClient.objects.get().last_used_at is not None


def test_an_expired_token_is_refused(chain, client):
    outcome = tokens.create_api_token(actor=chain["staff"]["hospital_admin"].user, name="HIS", institution=chain["city"])
    ApiClient.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert _bearer(client, outcome.secret).status_code == 401


@pytest.mark.parametrize("overlap_hours", [24, 0])
def test_rotation_keeps_the_old_token_only_for_the_overlap(chain, client, settings, overlap_hours):
    settings.API_TOKEN_ROTATION_OVERLAP_HOURS = overlap_hours
    admin = chain["staff"]["hospital_admin"].user
    old = tokens.create_api_token(actor=admin, name="HIS", institution=chain["city"])
    new = tokens.rotate_api_token(actor=admin, api_client=old.obj)
    assert new.secret != old.secret
    assert _bearer(client, new.secret).status_code == 200
    assert _bearer(client, old.secret).status_code == (200 if overlap_hours else 401)
    ApiClient.objects.update(previous_token_valid_until=timezone.now() - datetime.timedelta(seconds=1))
    assert _bearer(client, old.secret).status_code == 401
    assert AuditEvent.objects.filter(action="consortium.api_token_rotated").count() == 1


def test_revocation_ends_the_token_and_one_in_its_overlap(chain, client):
    admin = chain["staff"]["hospital_admin"].user
    old = tokens.create_api_token(actor=admin, name="HIS", institution=chain["city"])
    new = tokens.rotate_api_token(actor=admin, api_client=old.obj)
    tokens.revoke_api_token(actor=admin, api_client=new.obj)
    assert _bearer(client, new.secret).status_code == 401
    assert _bearer(client, old.secret).status_code == 401


def test_only_the_owner_administrator_acts_directly(chain):
    with pytest.raises(NotPermitted) as refused:
        tokens.create_api_token(actor=chain["staff"]["consortium_admin"].user, name="HIS", institution=chain["township"])
    assert refused.value.code == "approval_required"
    for name in ("clinician", "coordinator", "insurance", "outsider"):
        with pytest.raises(NotPermitted):
            tokens.create_api_token(actor=chain["staff"][name].user, name="HIS", institution=chain["city"])
    with pytest.raises(NotPermitted):  # the city's administrator has no say over the township's systems
        tokens.create_api_token(actor=chain["staff"]["hospital_admin"].user, name="HIS", institution=chain["township"])
    assert not ApiClient.objects.exists()


def test_a_consortium_administrator_needs_a_second_person(chain, second_admin, client):
    requester = chain["staff"]["consortium_admin"].user
    request = approvals.request_machine_access(
        actor=requester, kind="token_create", institution=chain["township"], payload={"name": "镇卫生院 HIS"}, reason="新HIS上线"
    )
    assert request.status == MachineAccessStatus.PENDING and not ApiClient.objects.exists()
    with pytest.raises(NotPermitted) as same:
        approvals.approve_machine_access(actor=requester, request=request)
    assert same.value.code == "same_person"
    with pytest.raises(NotPermitted):
        approvals.approve_machine_access(actor=chain["staff"]["clinician"].user, request=request)
    assert not ApiClient.objects.exists()
    approved = approvals.approve_machine_access(actor=second_admin.user, request=request)
    assert approved.secret == "" and approved.sealed_for_requester  # the approver never holds the token
    outcome = approvals.collect_machine_access_secret(actor=requester, request=request)
    api_client = ApiClient.objects.get()
    assert api_client.institution == chain["township"] and hash_api_token(outcome.secret) == api_client.token_hash
    request.refresh_from_db()
    assert request.status == MachineAccessStatus.APPROVED and request.decided_by == second_admin.user
    assert request.api_client == api_client
    issued = AuditEvent.objects.get(action="consortium.api_token_issued")
    assert issued.actor == second_admin.user and issued.detail["requested_by"] == requester.pk
    assert AuditEvent.objects.filter(action="consortium.machine_access_approved").count() == 1
    assert _bearer(client, outcome.secret).status_code == 200
    with pytest.raises(IllegalTransition):
        approvals.approve_machine_access(actor=second_admin.user, request=request)


def test_a_request_is_checked_when_filed_and_can_be_rejected_or_withdrawn(chain, second_admin):
    requester = chain["staff"]["consortium_admin"].user
    with pytest.raises(Invalid) as bad:
        approvals.request_machine_access(
            actor=requester,
            kind="endpoint_register",
            institution=chain["city"],
            payload={"name": "HIS", "url": "https://169.254.169.254/", "events": ["encounter"]},
            reason="市医院新接口",
        )
    assert bad.value.field == "url"
    with pytest.raises(Invalid) as no_reason:
        approvals.request_machine_access(
            actor=requester, kind="token_create", institution=chain["city"], payload={"name": "HIS"}, reason=""
        )
    assert no_reason.value.field == "reason"
    assert not MachineAccessRequest.objects.exists()
    first = approvals.request_machine_access(
        actor=requester, kind="token_create", institution=chain["city"], payload={"name": "HIS"}, reason="新接口"
    )
    with pytest.raises(Invalid):
        approvals.reject_machine_access(actor=second_admin.user, request=first, note="")
    assert approvals.reject_machine_access(actor=second_admin.user, request=first, note="不需要").status == "rejected"
    second = approvals.request_machine_access(
        actor=requester, kind="token_create", institution=chain["city"], payload={"name": "HIS"}, reason="新接口"
    )
    assert approvals.reject_machine_access(actor=requester, request=second).status == "withdrawn"
    assert not ApiClient.objects.exists()


def test_an_endpoint_requested_by_one_administrator_is_registered_on_anothers_approval(chain, second_admin, login, receiver):
    page = login(chain["staff"]["consortium_admin"]).post(
        reverse("sync-endpoint-new"),
        {"institution": chain["city"].pk, "name": "HIS", "url": receiver.url, "events": ["encounter"], "reason": "市医院新接口"},
    )
    assert page.status_code == 302 and not Endpoint.objects.exists()
    request = MachineAccessRequest.objects.get()
    client = login(second_admin)
    listing = client.get(reverse("machine-access")).content.decode()
    assert reverse("machine-access-request-approve", args=[request.pk]) in listing
    answer = client.post(reverse("machine-access-request-approve", args=[request.pk]))
    endpoint = Endpoint.objects.get()
    assert endpoint.secret not in answer.content.decode() and endpoint.url == receiver.url
    assert 'id="sealed-for-requester"' in answer.content.decode()
    assert AuditEvent.objects.get(action="sync.endpoint_registered").detail["requested_by"] == request.requested_by_id
    requester = login(chain["staff"]["consortium_admin"])
    assert (
        reverse("machine-access-request-collect", args=[request.pk]) in requester.get(reverse("machine-access")).content.decode()
    )
    shown = requester.post(reverse("machine-access-request-collect", args=[request.pk]))
    assert shown.content.decode().split('id="shown-secret">')[1].split("<")[0] == endpoint.secret


def test_a_consortium_administrator_deactivates_only_through_a_request(chain, second_admin, login, city_endpoint):
    client = login(chain["staff"]["consortium_admin"])
    client.post(reverse("sync-endpoint-deactivate", args=[city_endpoint.pk]), {"reason": "医院停用旧接口"})
    city_endpoint.refresh_from_db()
    assert city_endpoint.is_active
    request = MachineAccessRequest.objects.get(kind="endpoint_deactivate")
    approvals.approve_machine_access(actor=second_admin.user, request=request)
    city_endpoint.refresh_from_db()
    assert not city_endpoint.is_active


def test_the_admin_is_no_side_door(chain, client, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.org", "x" * 12)
    client.force_login(root)
    assert client.get("/admin/consortium/apiclient/add/").status_code == 403
    api_client = tokens.create_api_token(actor=chain["staff"]["hospital_admin"].user, name="HIS", institution=chain["city"]).obj
    change = client.post(f"/admin/consortium/apiclient/{api_client.pk}/change/", {"name": "x", "revoked_at": ""})
    assert change.status_code == 403
    assert client.get("/admin/consortium/apiclient/").status_code == 200
    assert client.get("/admin/consortium/machineaccessrequest/add/").status_code == 403


def test_an_approved_requests_token_is_shown_once_to_its_requester_never_to_the_approver(chain, second_admin, login, client):
    requester = chain["staff"]["consortium_admin"]
    request = approvals.request_machine_access(
        actor=requester.user, kind="token_create", institution=chain["township"], payload={"name": "HIS"}, reason="新HIS上线"
    )
    approver = login(second_admin)
    answer = approver.post(reverse("machine-access-request-approve", args=[request.pk]))
    assert answer.status_code == 200 and 'id="shown-secret"' not in answer.content.decode()
    assert 'id="sealed-for-requester"' in answer.content.decode()
    assert approver.post(reverse("machine-access-request-collect", args=[request.pk])).status_code == 302
    with pytest.raises(NotPermitted):
        approvals.collect_machine_access_secret(actor=second_admin.user, request=request)
    with connection.cursor() as cursor:  # sealed at rest: an envelope, not the token
        cursor.execute("SELECT sealed_secret FROM consortium_machineaccessrequest WHERE id = %s", [request.pk])
        stored = cursor.fetchone()[0]
    assert stored.startswith("v1:")
    assert (
        reverse("machine-access-request-collect", args=[request.pk])
        not in approver.get(reverse("machine-access")).content.decode()
    )

    page = login(requester)
    listing = page.get(reverse("machine-access")).content.decode()
    assert reverse("machine-access-request-collect", args=[request.pk]) in listing
    shown = page.post(reverse("machine-access-request-collect", args=[request.pk]))
    assert shown.status_code == 200 and "no-store" in shown["Cache-Control"]
    token = shown.content.decode().split('id="shown-secret">')[1].split("<")[0]
    assert ApiClient.objects.get().token_hash == hash_api_token(token) and token not in stored
    assert all(token not in morsel.value for morsel in page.cookies.values())
    again = page.post(reverse("machine-access-request-collect", args=[request.pk]), follow=True)
    assert token not in again.content.decode() and 'id="shown-secret"' not in again.content.decode()
    with pytest.raises(Conflict):
        approvals.collect_machine_access_secret(actor=requester.user, request=request)
    request.refresh_from_db()
    assert request.sealed_secret == "" and request.secret_collected_at is not None
    assert (
        reverse("machine-access-request-collect", args=[request.pk]) not in page.get(reverse("machine-access")).content.decode()
    )
    collected = AuditEvent.objects.get(action="consortium.machine_access_secret_collected")
    assert collected.actor == requester.user and token not in str(collected.detail)
    page.logout()
    assert _bearer(page, token).status_code == 200


def test_a_revocation_request_seals_nothing(chain, second_admin):
    api_client = tokens.create_api_token(actor=chain["staff"]["hospital_admin"].user, name="HIS", institution=chain["city"]).obj
    request = approvals.request_machine_access(
        actor=chain["staff"]["consortium_admin"].user,
        kind="token_revoke",
        institution=chain["city"],
        api_client=api_client,
        reason="停用",
    )
    outcome = approvals.approve_machine_access(actor=second_admin.user, request=request)
    assert not outcome.sealed_for_requester and outcome.secret == ""
    with pytest.raises(Conflict):
        approvals.collect_machine_access_secret(actor=chain["staff"]["consortium_admin"].user, request=request)


def test_the_admin_never_shows_a_sealed_secret(chain, second_admin, client, django_user_model):
    request = approvals.request_machine_access(
        actor=chain["staff"]["consortium_admin"].user,
        kind="token_create",
        institution=chain["city"],
        payload={"name": "HIS"},
        reason="新接口",
    )
    approvals.approve_machine_access(actor=second_admin.user, request=request)
    request.refresh_from_db()
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.org", "x" * 12))
    page = client.get(f"/admin/consortium/machineaccessrequest/{request.pk}/change/")
    assert page.status_code == 200 and request.sealed_secret not in page.content.decode()


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.org", "x" * 12)


def test_a_superuser_changes_no_machine_access_directly(chain, root, city_endpoint):
    """A superuser is no institution's administrator: every direct change is refused as for a consortium administrator."""
    api_client = tokens.create_api_token(actor=chain["staff"]["hospital_admin"].user, name="HIS", institution=chain["city"]).obj
    direct = [
        lambda: tokens.create_api_token(actor=root, name="HIS", institution=chain["city"]),
        lambda: tokens.create_api_token(actor=root, name="医保", insurance_office=chain["office"]),
        lambda: tokens.rotate_api_token(actor=root, api_client=api_client),
        lambda: tokens.revoke_api_token(actor=root, api_client=api_client),
        lambda: endpoints.register_endpoint(
            actor=root, institution=chain["city"], name="x", url="https://his.example.org/fhir", events=["encounter"]
        ),
        lambda: endpoints.change_endpoint(actor=root, endpoint=city_endpoint, changes={"name": "x"}),
        lambda: endpoints.deactivate_endpoint(actor=root, endpoint=city_endpoint),
    ]
    before = AuditEvent.objects.count()
    for change in direct:
        with pytest.raises(NotPermitted) as refused:
            change()
        assert refused.value.code == "approval_required"
    assert AuditEvent.objects.count() == before
    assert ApiClient.objects.count() == 1 and ApiClient.objects.get().revoked_at is None
    city_endpoint.refresh_from_db()
    assert city_endpoint.is_active and city_endpoint.name == "市医院 HIS" and Endpoint.objects.count() == 1


def test_a_superusers_change_is_a_request_a_second_person_approves(chain, root, client, city_endpoint):
    client.force_login(root)
    page = client.post(reverse("machine-access-token-new"), {"owner": f"i{chain['city'].pk}", "name": "HIS", "reason": "新接口"})
    assert page.status_code == 302 and not ApiClient.objects.exists()
    client.post(reverse("sync-endpoint-deactivate", args=[city_endpoint.pk]), {"reason": "停用旧接口"})
    city_endpoint.refresh_from_db()
    assert city_endpoint.is_active
    token_request = MachineAccessRequest.objects.get(kind="token_create")
    assert token_request.requested_by == root
    with pytest.raises(NotPermitted) as same:
        approvals.approve_machine_access(actor=root, request=token_request)
    assert same.value.code == "same_person"
    approvals.approve_machine_access(actor=chain["staff"]["consortium_admin"].user, request=token_request)
    assert ApiClient.objects.get().institution == chain["city"]
    office_request = approvals.request_machine_access(
        actor=root, kind="token_create", insurance_office=chain["office"], payload={"name": "医保"}, reason="医保接口"
    )
    approvals.approve_machine_access(actor=chain["staff"]["consortium_admin"].user, request=office_request)
    assert ApiClient.objects.filter(insurance_office=chain["office"]).exists()


def test_a_superuser_approves_a_consortium_administrators_request(chain, root):
    request = approvals.request_machine_access(
        actor=chain["staff"]["consortium_admin"].user,
        kind="token_create",
        institution=chain["township"],
        payload={"name": "镇卫生院 HIS"},
        reason="新HIS上线",
    )
    approvals.approve_machine_access(actor=root, request=request)
    assert ApiClient.objects.get().institution == chain["township"]


def test_the_machine_access_page_is_refused_to_roles_without_the_right(chain, login):
    for name in ("clinician", "coordinator", "insurance"):
        assert login(chain["staff"][name]).get(reverse("machine-access")).status_code == 403
        assert login(chain["staff"][name]).get(reverse("sync-endpoint-list")).status_code == 403
    assert login(chain["staff"]["hospital_admin"]).get(reverse("machine-access")).status_code == 200


MOVES = list(itertools.product(MachineAccessStatus.values, MachineAccessStatus.values))


@pytest.mark.parametrize(("source", "target"), MOVES)
def test_every_move_of_a_request(source, target):
    request = MachineAccessRequest(status=source)
    if target in REQUEST_TRANSITIONS[source]:
        advance_request(request, target)
        assert request.status == target
    else:
        with pytest.raises(IllegalTransition):
            advance_request(request, target)
        assert request.status == source


def test_the_request_table_is_the_documented_one():
    assert {source: set(targets) for source, targets in REQUEST_TRANSITIONS.items()} == {
        "pending": {"approved", "rejected", "withdrawn"},
        "approved": set(),
        "rejected": set(),
        "withdrawn": set(),
    }
