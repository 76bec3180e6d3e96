"""The permission module: role x relation x action, and no existence leak across institutions."""

import pytest
from django.urls import reverse

from consortium.permissions import Action, Relation, can, institution_ids_for, relation_to, staff_of

pytestmark = pytest.mark.django_db


def test_relations_follow_membership_and_supervision(chain):
    clinician = chain["staff"]["clinician"]
    assert relation_to(clinician, chain["township"]) == Relation.OWN
    assert relation_to(clinician, chain["village"]) == Relation.SUPERVISED
    assert relation_to(clinician, chain["city"]) == Relation.PEER
    assert relation_to(clinician, chain["outsider"]) == Relation.NONE


def test_expired_membership_is_no_longer_a_peer(chain, yesterday):
    chain["city"].memberships.update(agreement_end=yesterday)
    clinician = chain["staff"]["clinician"]
    assert relation_to(clinician, chain["city"]) == Relation.NONE


@pytest.mark.parametrize(
    ("who", "action", "where", "allowed"),
    [
        ("clinician", Action.REGISTER_PATIENT, "township", True),
        ("clinician", Action.REGISTER_PATIENT, "city", False),
        ("clinician", Action.START_REFERRAL, "township", True),
        ("clerk", Action.START_REFERRAL, "township", False),
        ("clinician", Action.VIEW_STAFF, "city", False),
        ("clinician", Action.VIEW_INSTITUTION, "city", True),
        ("clinician", Action.VIEW_INSTITUTION, "outsider", False),
        ("coordinator", Action.TRIAGE_REFERRAL, "city", True),
        ("coordinator", Action.TRIAGE_REFERRAL, "township", False),
        ("hospital_admin", Action.MANAGE_STAFF, "city", True),
        ("hospital_admin", Action.MANAGE_STAFF, "township", False),
        ("insurance", Action.VIEW_CLAIMS, "township", True),
        ("insurance", Action.VIEW_CLAIMS, "outsider", False),
        ("insurance", Action.VIEW_PATIENT, "township", False),
        ("consortium_admin", Action.MANAGE_MEMBERSHIPS, "village", True),
        ("consortium_admin", Action.MANAGE_MEMBERSHIPS, "outsider", False),
        ("consortium_admin", Action.VIEW_PATIENT, "township", False),
        ("outsider", Action.VIEW_INSTITUTION, "township", False),
    ],
)
def test_permission_matrix(chain, who, action, where, allowed):
    assert can(chain["staff"][who].user, action, chain[where]) is allowed


def test_user_without_staff_record_may_do_nothing(chain, django_user_model):
    user = django_user_model.objects.create_user("nobody", password="x-long-password-1")
    assert staff_of(user) is None
    assert institution_ids_for(user, Action.VIEW_INSTITUTION) == frozenset()
    assert not can(user, Action.VIEW_INSTITUTION, chain["township"])


def test_staff_page_of_another_institution_is_not_found(chain, login):
    client = login(chain["staff"]["outsider"])
    own = client.get(reverse("institution-staff", args=["OUT"]))
    assert own.status_code == 200
    other = client.get(reverse("institution-staff", args=["TOWN"]))
    missing = client.get(reverse("institution-staff", args=["NO-SUCH-CODE"]))
    assert other.status_code == missing.status_code == 404
    assert "鸣凤镇卫生院" not in other.content.decode()


def test_peer_sees_institution_but_not_its_staff(chain, login):
    client = login(chain["staff"]["clinician"])
    assert client.get(reverse("institution-detail", args=["CITY"])).status_code == 200
    assert client.get(reverse("institution-staff", args=["CITY"])).status_code == 404
    listing = client.get(reverse("institution-list")).content.decode()
    assert "市中心医院" in listing and "外地卫生院" not in listing


def test_consortium_admin_sees_member_staff_but_not_outsiders(chain, login):
    client = login(chain["staff"]["consortium_admin"])
    assert client.get(reverse("institution-staff", args=["TOWN"])).status_code == 200
    assert client.get(reverse("institution-staff", args=["OUT"])).status_code == 404
    assert client.get(reverse("membership-list")).status_code == 200


def test_api_scopes_institutions_the_same_way(chain, login):
    client = login(chain["staff"]["outsider"])
    codes = [row["code"] for row in client.get("/api/v1/institutions/").json()["results"]]
    assert codes == ["OUT"]
    assert client.get("/api/v1/institutions/TOWN/").status_code == 404


def test_anonymous_user_is_sent_to_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_admin_pages_are_scoped_for_a_consortium_administrator(chain, login):
    from django.contrib.auth.models import Permission

    admin_staff = chain["staff"]["consortium_admin"]
    admin_staff.user.is_staff = True
    admin_staff.user.save()
    admin_staff.user.user_permissions.add(*Permission.objects.filter(content_type__app_label="consortium"))
    client = login(admin_staff)
    listing = client.get("/admin/consortium/institution/").content.decode()
    assert "鸣凤镇卫生院" in listing and "外地卫生院" not in listing
    outsider = chain["outsider"]
    assert client.get(f"/admin/consortium/institution/{outsider.pk}/change/").status_code in (302, 404)


def test_uploaded_files_are_not_served_by_path(client, settings):
    """Attachments go out only through permission-checked views, never straight from MEDIA_ROOT."""
    (settings.MEDIA_ROOT).mkdir(parents=True, exist_ok=True)
    (settings.MEDIA_ROOT / "probe.txt").write_text("private")
    assert client.get(f"/{settings.MEDIA_URL}probe.txt").status_code == 404


def test_decisions_look_up_only_the_relations_that_could_grant_the_action(chain, django_assert_num_queries):
    user = chain["staff"]["coordinator"].user
    staff_of(user)
    with django_assert_num_queries(0):
        assert can(user, Action.TRIAGE_REFERRAL, chain["city"])
        assert not can(user, Action.TRIAGE_REFERRAL, chain["township"])
    assert can(user, Action.VIEW_SHARED_RECORD, chain["township"])
    assert not can(user, Action.VIEW_SHARED_RECORD, chain["city"])
    assert chain["city"].pk not in institution_ids_for(user, Action.VIEW_SHARED_RECORD)
