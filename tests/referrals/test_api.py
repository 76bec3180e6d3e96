"""The referral REST API: every action, field-level 400s, 409 for illegal transitions, scoping, the schema."""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework import serializers
from rest_framework.test import APIClient

from consortium.models import ApiClient, ApiClientKind
from referrals import selectors
from referrals.api import QueueRowSerializer
from referrals.models import Referral, ReferralSlot, ReferralStatus
from tests.problems import fields, problem

pytestmark = pytest.mark.django_db

API = "/api/v1/referrals/"


@pytest.fixture
def api():
    def _as(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return _as


def _create(setting, client, **changes):
    data = {
        "patient": setting.patient.pk,
        "source_encounter": setting.encounter.pk,
        "to_department": setting.cardiology.pk,
        "urgency": "emergency",
        "reason": "急性胸痛",
    }
    data.update(changes)
    return client.post(API, data, format="json")


def test_full_upward_and_downward_workflow_over_the_api(setting, api):
    clinic, hospital = api(setting.clinician), api(setting.coordinator)
    created = _create(setting, clinic)
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    assert created.json()["status"] == "submitted"
    assert created.json()["clinical_summary"]["diagnoses"][0]["code"] == "I10"
    queue = hospital.get(f"{API}queue/", {"urgency": "emergency"})
    assert [row["id"] for row in queue.json()["results"]] == [pk]
    assert hospital.post(f"{API}{pk}/review/", {}, format="json").json()["status"] == "under_review"
    accepted = hospital.post(f"{API}{pk}/accept/", {"slot": setting.slot.pk, "note": "请空腹"}, format="json")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert clinic.get(f"{API}{pk}/").json()["appointment_at"] is not None
    for step in ("arrive", "start-treatment"):
        assert hospital.post(f"{API}{pk}/{step}/", {}, format="json").status_code == 200
    due = (timezone.localdate() + datetime.timedelta(days=14)).isoformat()
    discharged = hospital.post(
        f"{API}{pk}/discharge/",
        {"discharge_summary": "好转出院", "tasks": [{"kind": "rehabilitation", "due_on": due}]},
        format="json",
    )
    assert discharged.status_code == 200, discharged.json()
    downward = discharged.json()
    assert downward["direction"] == "down" and downward["follow_up_tasks"][0]["kind"] == "rehabilitation"
    tasks = clinic.get(f"{API}follow-ups/").json()["results"]
    assert [t["id"] for t in tasks] == [downward["follow_up_tasks"][0]["id"]]
    assert fields(clinic.post(f"{API}follow-ups/{tasks[0]['id']}/done/", {"outcome": ""}, format="json")) == {"outcome"}
    assert (
        clinic.post(f"{API}follow-ups/{tasks[0]['id']}/done/", {"outcome": "康复训练完成"}, format="json").json()["status"]
        == "done"
    )
    rated = clinic.post(f"{API}{pk}/satisfaction/", {"score": 5, "comment": "满意"}, format="json")
    assert rated.status_code == 201
    problem(clinic.post(f"{API}{pk}/satisfaction/", {"score": 4}, format="json"), 409, "illegal_transition")
    notes = clinic.get(f"{API}notifications/").json()
    assert notes["count"] >= 2
    assert clinic.post(f"{API}notifications/read/", {}, format="json").json()["marked"] == notes["count"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reason": ""}, "reason"),
        ({"urgency": "soon"}, "urgency"),
        ({"to_department": 999999}, "to_department"),
        ({"patient": 999999}, "patient"),
        ({"to_department": "pharmacy"}, "to_department"),
    ],
)
def test_bad_create_is_400_with_a_field_message(setting, api, changes, field):
    if changes.get("to_department") == "pharmacy":
        changes["to_department"] = setting.pharmacy.pk
    response = _create(setting, api(setting.clinician), **changes)
    assert field in fields(response)
    assert not Referral.objects.exists()


def test_referral_to_a_lower_level_is_refused(setting, api):
    from tests.factories import DepartmentFactory

    town_dept = DepartmentFactory(institution=setting.chain["village"], accepts_referrals=True)
    response = _create(setting, api(setting.clinician), to_department=town_dept.pk)
    assert "to_department" in fields(response)


def test_illegal_transition_is_409_with_a_message(setting, api):
    referral = setting.referral_in(ReferralStatus.REJECTED)
    response = api(setting.coordinator).post(f"{API}{referral.pk}/accept/", {"slot": setting.slot.pk}, format="json")
    assert problem(response, 409, "illegal_transition")["detail"]


def test_decisions_need_their_inputs(setting, api):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    hospital = api(setting.coordinator)
    assert "reason" in fields(hospital.post(f"{API}{referral.pk}/reject/", {}, format="json"))
    assert "to_department" in fields(hospital.post(f"{API}{referral.pk}/redirect/", {"reason": "x"}, format="json"))
    response = hospital.post(f"{API}{referral.pk}/accept/", {}, format="json")
    assert "slot" in fields(response)
    full = ReferralSlot.objects.create(
        department=setting.cardiology, starts_at=timezone.now() + datetime.timedelta(days=1), capacity=1, booked=1
    )
    response = hospital.post(f"{API}{referral.pk}/accept/", {"slot": full.pk}, format="json")
    assert "slot" in fields(response, 409, "slot_unavailable")
    redirected = hospital.post(
        f"{API}{referral.pk}/redirect/", {"reason": "转神经内科", "to_department": setting.neurology.pk}, format="json"
    )
    assert redirected.json()["status"] == "redirected"
    referral.refresh_from_db()
    assert Referral.objects.get(redirected_from=referral).to_department == setting.neurology


def test_cancel_by_sender_only(setting, api):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    assert api(setting.coordinator).post(f"{API}{referral.pk}/cancel/", {}, format="json").status_code == 403
    assert (
        api(setting.clinician).post(f"{API}{referral.pk}/cancel/", {"note": "患者拒绝"}, format="json").json()["status"]
        == "cancelled"
    )


@pytest.mark.parametrize("who", ["outsider", "insurance", "consortium_admin"])
def test_others_do_not_see_or_act(setting, api, who):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    client = api(setting.staff[who].user)
    assert client.get(f"{API}{referral.pk}/").status_code == 404
    assert client.get(API).json()["count"] == 0
    assert client.post(f"{API}{referral.pk}/accept/", {"slot": setting.slot.pk}, format="json").status_code in (403, 404)
    assert client.get(f"{API}queue/").status_code == 403
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.SUBMITTED


def test_queue_rows_render_as_drf_fields_would(setting, api):
    """The queue API fills its rows without DRF's per-field path; the output must not differ from it."""
    accepted = setting.referral_in(ReferralStatus.ACCEPTED)
    waiting = setting.referral_in(ReferralStatus.SUBMITTED)
    response = api(setting.coordinator).get(f"{API}queue/", {"status": "accepted"})
    rows = list(selectors.filtered_queue(setting.city, status="accepted").values(*selectors.API_QUEUE_VALUES))
    rows += list(selectors.filtered_queue(setting.city).values(*selectors.API_QUEUE_VALUES))
    serializer = QueueRowSerializer()
    for row in rows:
        assert serializer.to_representation(row) == serializers.Serializer.to_representation(serializer, row)
    (result,) = response.json()["results"]
    assert result["id"] == accepted.pk and result["appointment_at"].endswith("+08:00")
    assert {row["id"] for row in rows} == {accepted.pk, waiting.pk}
    assert "Z" not in result["due_at"] and result["to_department"] == "CARD" and result["patient_name"] == "李四"


def test_queue_api_pages_carry_the_total(setting, api):
    for _ in range(3):
        setting.take(setting.draft(), "submit")
    hospital = api(setting.coordinator)
    first = hospital.get(f"{API}queue/", {"limit": 2}).json()
    assert first["count"] == 3 and len(first["results"]) == 2 and "offset=2" in first["next"]
    last = hospital.get(f"{API}queue/", {"limit": 2, "offset": 2}).json()
    assert last["count"] == 3 and len(last["results"]) == 1 and last["next"] is None
    past = hospital.get(f"{API}queue/", {"limit": 2, "offset": 10}).json()
    assert past["count"] == 3 and past["results"] == []
    ids = [row["id"] for row in first["results"] + last["results"]]
    assert ids == list(Referral.objects.filter(to_institution=setting.city).order_by("due_at", "pk").values_list("pk", flat=True))


def test_queue_filter_errors_are_400(setting, api):
    hospital = api(setting.coordinator)
    for params, field in (({"status": "nope"}, "status"), ({"department": "x"}, "department"), ({"waiting": "9h"}, "waiting")):
        response = hospital.get(f"{API}queue/", params)
        assert field in fields(response)


def test_slots_api(setting, api):
    hospital = api(setting.coordinator)
    start = (timezone.now() + datetime.timedelta(days=5)).isoformat()
    created = hospital.post(
        f"{API}slots/", {"department": setting.cardiology.pk, "starts_at": start, "capacity": 3}, format="json"
    )
    assert created.status_code == 201 and created.json()["free"] == 3
    bad = hospital.post(f"{API}slots/", {"department": setting.pharmacy.pk, "starts_at": start, "capacity": 3}, format="json")
    assert "department" in fields(bad)
    assert (
        api(setting.clinician)
        .post(f"{API}slots/", {"department": setting.cardiology.pk, "starts_at": start, "capacity": 3}, format="json")
        .status_code
        == 403
    )


def test_attachment_upload_sniffs_the_content(setting, api, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    clinic = api(setting.clinician)
    fake = SimpleUploadedFile("scan.jpg", b"GIF89a not allowed")
    response = clinic.post(f"{API}{referral.pk}/attachments/", {"file": fake}, format="multipart")
    assert "file" in fields(response)
    real = SimpleUploadedFile("scan.bin", b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    response = clinic.post(f"{API}{referral.pk}/attachments/", {"file": real}, format="multipart")
    assert response.status_code == 201 and response.json()["content_type"] == "image/jpeg"
    assert referral.attachments.count() == 1


def test_only_the_parties_ask_about_a_valid_referral_and_each_answer_is_logged(setting, api):
    from records.models import AccessLog, AccessOutcome, AccessReason

    referral = setting.referral_in(ReferralStatus.ACCEPTED)
    on = (timezone.now() + datetime.timedelta(days=2)).isoformat()
    query = {"patient": setting.patient.pk, "institution": "CITY", "on": on}

    # The insurance office and the consortium administrator are no party of the referral.
    client = ApiClient(name="医保", kind=ApiClientKind.INSURANCE_OFFICE, insurance_office=setting.chain["office"])
    token = client.issue_token()
    client.save()
    insurer = APIClient()
    insurer.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert problem(insurer.get(f"{API}valid-referral/", query), 403)
    assert problem(api(setting.staff["consortium_admin"].user).get(f"{API}valid-referral/", query), 403)
    assert not AccessLog.objects.filter(path__endswith="valid-referral/").exists()

    # The receiving hospital learns of every referral to it; the referring clinic of its own.
    city = api(setting.coordinator)
    assert city.get(f"{API}valid-referral/", query).json() == {"valid": True}
    assert api(setting.clinician).get(f"{API}valid-referral/", query).json() == {"valid": True}
    assert city.get(f"{API}valid-referral/", {**query, "institution": "COUNTY"}).json() == {"valid": False}
    # Another clinic asking about the same patient learns nothing: no referral of its own.
    outsider = api(setting.staff["outsider"].user)
    assert outsider.get(f"{API}valid-referral/", query).json() == {"valid": False}

    logged = AccessLog.objects.filter(patient=setting.patient, path__endswith="valid-referral/")
    assert logged.filter(outcome=AccessOutcome.ALLOWED, reason=AccessReason.REFERRAL).count() == 2
    assert logged.filter(outcome=AccessOutcome.DENIED, institution=setting.chain["outsider"]).count() == 1

    bad = city.get(f"{API}valid-referral/", {**query, "on": "yesterday"})
    assert fields(bad) == {"on"}
    assert fields(city.get(f"{API}valid-referral/", {**query, "institution": "NOWHERE"})) == {"institution"}
    assert referral.pk


def test_schema_lists_the_referral_actions(client):
    schema = client.get("/api/schema/").content.decode()
    for path in ("/api/v1/referrals/{id}/accept/", "/api/v1/referrals/queue/", "/api/v1/referrals/{id}/discharge/"):
        assert path in schema
