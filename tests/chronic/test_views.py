"""The pages as a user meets them: worklists scoped to the team, one-form follow-ups, the referral proposal."""

import datetime
from urllib.parse import parse_qs, urlparse

import pytest

from chronic import services
from chronic.defaults import HYPERTENSION
from chronic.models import Contract, Enrolment, FollowUpStatus
from chronic.screening import screen_candidates

pytestmark = pytest.mark.django_db


def test_the_village_doctor_sees_their_own_teams_worklist_only(chronic, client):
    mine = chronic.enrolled(patient=chronic.patient(name="本组患者"))
    theirs = chronic.enrolled(patient=chronic.patient(name="他组患者"), team=chronic.other_team)
    client.force_login(chronic.village_doctor)
    page = client.get("/chronic/").content.decode()
    assert "本组患者" in page and "他组患者" not in page
    assert client.get(f"/chronic/?team={chronic.other_team.pk}").status_code == 404
    assert client.get(f"/chronic/teams/{chronic.other_team.pk}/").status_code == 404
    assert client.get(f"/chronic/follow-ups/{chronic.due(theirs).pk}/").status_code == 404
    assert client.get(f"/chronic/enrolments/{theirs.pk}/").status_code == 404
    assert client.get(f"/chronic/follow-ups/{chronic.due(mine).pk}/").status_code == 200
    assert client.get("/chronic/candidates/").status_code == 403


def test_the_public_health_worker_sees_every_team_of_the_township(chronic, client):
    chronic.enrolled(patient=chronic.patient(name="本组患者"))
    chronic.enrolled(patient=chronic.patient(name="他组患者"), team=chronic.other_team)
    client.force_login(chronic.public_health)
    assert "他组患者" in client.get(f"/chronic/?team={chronic.other_team.pk}").content.decode()
    assert "本组患者" in client.get(f"/chronic/teams/{chronic.team.pk}/").content.decode()


def test_an_outsider_sees_nothing(chronic, client):
    enrolment = chronic.enrolled()
    client.force_login(chronic.staff["outsider"].user)
    assert "李四" not in client.get("/chronic/").content.decode()
    assert client.get(f"/chronic/follow-ups/{chronic.due(enrolment).pk}/").status_code == 404


def test_overdue_due_and_missed_sections(chronic, client, now):
    overdue = chronic.enrolled(patient=chronic.patient(name="逾期者"), when=now - datetime.timedelta(days=3))
    chronic.enrolled(patient=chronic.patient(name="本周者"))
    missed = chronic.enrolled(patient=chronic.patient(name="失访者"))
    services.mark_missed(chronic.due(missed).pk, actor=chronic.village_doctor, note="外出务工")
    client.force_login(chronic.village_doctor)
    response = client.get("/chronic/")
    work = response.context["work"]
    assert [f["enrolment__patient__name"] for f in work.overdue] == ["逾期者"]
    assert "本周者" in [f["enrolment__patient__name"] for f in work.due]
    assert [f["enrolment__patient__name"] for f in work.missed] == ["失访者"]
    assert overdue.pk


def test_one_form_records_an_uncontrolled_follow_up_and_proposes_the_referral(chronic, client, today):
    enrolment = chronic.enrolled()
    chronic.record(enrolment, "152", "94")  # the first uncontrolled one
    due = chronic.due(enrolment)
    client.force_login(chronic.village_doctor)
    response = client.post(
        f"/chronic/follow-ups/{due.pk}/",
        {"bp_systolic": "158", "bp_diastolic": "96", "pulse": "80", "method": "clinic", "done_on": today.isoformat(), "note": ""},
    )
    assert response.status_code == 302 and response.url == f"/chronic/follow-ups/{due.pk}/result/"
    page = client.get(response.url).content.decode()
    assert "转诊" in page
    response = client.post(f"/chronic/follow-ups/{due.pk}/propose-referral/")
    target = urlparse(response.url)
    assert target.path == "/referrals/new/"
    query = parse_qs(target.query)
    due.refresh_from_db()
    assert query["encounter"] == [str(due.encounter_id)] and query["urgency"] == ["routine"]
    assert "收缩压 158 mmHg" in query["reason"][0]
    assert due.referral_proposed
    form = client.get(response.url)
    assert form.status_code == 200
    assert form.context["form"].initial["reason"] == query["reason"][0]


def test_a_bad_value_comes_back_on_its_field(chronic, client, today):
    due = chronic.due(chronic.enrolled())
    client.force_login(chronic.village_doctor)
    response = client.post(
        f"/chronic/follow-ups/{due.pk}/",
        {"bp_systolic": "1500", "bp_diastolic": "90", "method": "clinic", "done_on": today.isoformat()},
    )
    assert response.status_code == 200
    assert "1500" in str(response.context["form"].errors["bp_systolic"])
    due.refresh_from_db()
    assert due.status == FollowUpStatus.DUE


def test_candidates_are_enrolled_or_declined_by_the_township(chronic, client):
    first, second = chronic.patient(name="甲"), chronic.patient(name="乙")
    screen_candidates()
    client.force_login(chronic.public_health)
    page = client.get("/chronic/candidates/").content.decode()
    assert "甲" in page and "乙" in page
    one = Enrolment.objects.get(patient=first)
    two = Enrolment.objects.get(patient=second)
    client.post(f"/chronic/enrolments/{one.pk}/enrol/", {f"e{one.pk}-team": chronic.team.pk, f"e{one.pk}-risk_level": "high"})
    client.post(f"/chronic/enrolments/{two.pk}/decline/", {f"d{two.pk}-reason": "已在外地管理"})
    one.refresh_from_db()
    two.refresh_from_db()
    assert (one.status, one.team, one.risk_level) == ("enrolled", chronic.team, "high")
    assert (two.status, two.reason) == ("declined", "已在外地管理")


def test_a_contract_is_signed_printed_and_renewed(chronic, client, today):
    holder = chronic.patient(None, name="签约人")
    client.force_login(chronic.village_doctor)
    response = client.post(
        f"/chronic/teams/{chronic.team.pk}/contracts/new/",
        {
            "holder": holder.pk,
            "package": "basic",
            "starts_on": today.isoformat(),
            "ends_on": (today + datetime.timedelta(days=365)).isoformat(),
            "signature_method": "handwritten",
        },
    )
    contract = Contract.objects.get()
    assert response.url == f"/chronic/contracts/{contract.pk}/"
    page = client.get(response.url).content.decode()
    assert "签约人" in page and holder.resident_id not in page
    client.post(
        response.url,
        {
            "renew": "1",
            "renew-ends_on": (today + datetime.timedelta(days=700)).isoformat(),
            "renew-signature_method": "electronic",
        },
    )
    assert Contract.objects.filter(renewed_from=contract).exists()
    client.force_login(chronic.staff["other_village_doctor"].user)
    assert client.get(response.url).status_code == 404


def test_programme_pages_for_the_consortium_administrator(chronic, client):
    client.force_login(chronic.admin)
    page = client.get(f"/chronic/programmes/{chronic.hypertension.pk}/")
    form = page.context["form"]
    data = {**form.initial, "targets": "bp_systolic < 150, bp_diastolic < 90", "note": "放宽"}
    chronic.enrolled()  # version 1 is now in use
    response = client.post(f"/chronic/programmes/{chronic.hypertension.pk}/", data)
    assert response.status_code == 302
    assert chronic.hypertension.versions.count() == 2
    assert services.current_version(chronic.hypertension).rules["targets"][0]["value"] == "150"
    bad = client.post(f"/chronic/programmes/{chronic.hypertension.pk}/", {**data, "targets": "bp_systolic less 150"})
    assert bad.status_code == 200 and "bp_systolic less 150" in str(bad.context["form"].errors["targets"])
    new = client.post(
        "/chronic/programmes/new/",
        {
            **data,
            "code": "copd",
            "name": "慢阻肺",
            "codes": "J44",
            "measurements": "bp_systolic*, bp_diastolic*",
            "targets": "bp_systolic < 140",
        },
    )
    assert new.status_code == 302
    client.force_login(chronic.public_health)
    assert client.get("/chronic/programmes/").status_code == 403
    assert HYPERTENSION["targets"][0]["value"] == "140"


def test_a_team_is_created_by_the_public_health_worker(chronic, client):
    client.force_login(chronic.public_health)
    response = client.post(
        "/chronic/teams/new/",
        {
            "name": "鸣凤三组",
            "doctor": chronic.staff["clinician"].pk,
            "village_doctors": [chronic.staff["other_village_doctor"].pk],
        },
    )
    assert response.status_code == 302
    client.force_login(chronic.village_doctor)
    assert client.get("/chronic/teams/new/").status_code == 403
