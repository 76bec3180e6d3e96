"""The member systems' API: a team's panel, posting a follow-up, and the FHIR views."""

import datetime

import pytest
from rest_framework.test import APIClient

from chronic import services
from consortium.models import ApiClient, ApiClientKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def his(chronic):
    client = ApiClient(name="镇卫生院 HIS", kind=ApiClientKind.MEMBER_SYSTEM, institution=chronic.township)
    token = client.issue_token()
    client.save()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def test_a_member_system_reads_its_panel_and_posts_a_follow_up(chronic, his, today):
    enrolment = chronic.enrolled(patient=chronic.patient(home=chronic.township, name="镇上患者"))
    panel = his.get(f"/api/v1/chronic/teams/{chronic.team.pk}/panel/").json()
    row = panel["results"][0]
    assert row["enrolment"] == enrolment.pk and row["programme"] == "hypertension"
    assert "镇上患者" not in str(panel)
    due = row["due_follow_up"]
    bad = his.post(
        f"/api/v1/chronic/follow-ups/{due}/", {"measurements": {"bp_systolic": "abc", "bp_diastolic": "80"}}, format="json"
    )
    assert bad.status_code == 400 and "bp_systolic" in {e["field"] for e in bad.json()["errors"]}
    response = his.post(
        f"/api/v1/chronic/follow-ups/{due}/",
        {"measurements": {"bp_systolic": "188", "bp_diastolic": "104"}, "method": "home"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["control"], body["trigger"]) == ("danger", "danger")
    assert body["next_due_on"] == (today + datetime.timedelta(days=7)).isoformat()
    again = his.post(
        f"/api/v1/chronic/follow-ups/{due}/", {"measurements": {"bp_systolic": "130", "bp_diastolic": "80"}}, format="json"
    )
    assert again.status_code == 409 and again.json()["code"] == "illegal_transition"

    bundle = his.get(f"/api/v1/chronic/follow-ups/{due}/").json()
    encounter, *observations = [entry["resource"] for entry in bundle["entry"]]
    assert encounter["resourceType"] == "Encounter" and encounter["class"]["code"] == "HH"
    assert {o["code"]["coding"][0]["code"] for o in observations} == {"8480-6", "8462-4"}
    assert observations[0]["code"]["coding"][0]["system"] == "http://loinc.org"

    episode, plan = [entry["resource"] for entry in his.get(f"/api/v1/chronic/enrolments/{enrolment.pk}/").json()["entry"]]
    assert (episode["resourceType"], episode["status"]) == ("EpisodeOfCare", "active")
    assert plan["resourceType"] == "CarePlan" and plan["activity"][0]["detail"]["status"] == "scheduled"


def test_a_member_system_sees_no_other_institutions_teams(chronic, chain):
    client = ApiClient(name="外地 HIS", kind=ApiClientKind.MEMBER_SYSTEM, institution=chain["outsider"])
    token = client.issue_token()
    client.save()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    enrolment = chronic.enrolled()
    assert api.get(f"/api/v1/chronic/teams/{chronic.team.pk}/panel/").status_code == 404
    assert api.get(f"/api/v1/chronic/enrolments/{enrolment.pk}/").status_code == 404
    assert (
        api.post(f"/api/v1/chronic/follow-ups/{chronic.due(enrolment).pk}/", {"measurements": {}}, format="json").status_code
        == 404
    )


def test_a_contract_as_fhir(chronic, client, today):
    contract = services.sign_contract(
        actor=chronic.public_health,
        team=chronic.team,
        holder=chronic.patient(None),
        package="elderly",
        starts_on=today,
        ends_on=today + datetime.timedelta(days=365),
        signature_method="fingerprint",
    )
    client.force_login(chronic.public_health)
    resource = client.get(f"/api/v1/chronic/contracts/{contract.pk}/").json()
    assert (resource["resourceType"], resource["status"]) == ("Contract", "executed")
    assert resource["signer"][0]["signature"][0]["sigFormat"].endswith("fingerprint")
