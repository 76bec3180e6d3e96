"""The access matrix: role x relation to the patient's home institution x reason, denied cases included."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from consortium.models import AuditEvent
from records.access import can_read_patient, readable_patients
from records.models import AccessLog, AccessReason, BreakGlassAccess, HomeNotice
from records.services import start_break_glass
from referrals.models import Direction, Referral, ReferralStatus
from tests.factories import EncounterFactory

pytestmark = pytest.mark.django_db


def make_referral(patient, from_institution, to_institution, status):
    return Referral.objects.create(
        patient=patient,
        direction=Direction.UP,
        from_institution=from_institution,
        to_institution=to_institution,
        reason="血压控制不佳",
        status=status,
    )


# (staff, patient, expected reason or None) with only registrations and consent in place.
MATRIX = [
    ("clinician", "town", AccessReason.OWN_INSTITUTION),
    ("clerk", "town", AccessReason.OWN_INSTITUTION),
    ("clinician", "village", AccessReason.CONSENT),  # supervised village clinic, consented
    ("clerk", "village", None),  # clerks do not read shared records
    ("clinician", "city", None),  # no consent
    ("clinician", "outsider", None),  # not a member
    ("coordinator", "city", AccessReason.OWN_INSTITUTION),
    ("coordinator", "town", None),
    ("coordinator", "village", AccessReason.CONSENT),
    ("hospital_admin", "village", None),  # administrators do not read other members' records
    ("hospital_admin", "city", AccessReason.OWN_INSTITUTION),
    ("insurance", "town", None),
    ("insurance", "village", None),
    ("consortium_admin", "village", None),
    ("outsider", "outsider", AccessReason.OWN_INSTITUTION),
    ("outsider", "village", None),  # consent covers the consortium only
    ("outsider", "town", None),
]


@pytest.mark.parametrize(("who", "whose", "expected"), MATRIX)
def test_access_matrix(chain, patients, who, whose, expected):
    user = chain["staff"][who].user
    patient = patients[whose]
    decision = can_read_patient(user, patient)
    assert decision.reason == expected
    assert bool(decision) is (expected is not None)
    assert readable_patients(user).filter(pk=patient.pk).exists() is (expected is not None)


@pytest.mark.parametrize(("who", "whose", "expected"), MATRIX)
def test_web_and_api_answer_404_when_denied_and_log_when_allowed(chain, patients, login, who, whose, expected):
    client = login(chain["staff"][who])
    patient = patients[whose]
    for url in (
        reverse("records:patient-detail", args=[patient.pk]),
        reverse("api-patient-detail", args=[patient.pk]),
        reverse("api-patient-summary", args=[patient.pk]),
        reverse("api-patient-fhir", args=[patient.pk]),
    ):
        response = client.get(url)
        assert response.status_code == (200 if expected else 404), url
        logged = AccessLog.objects.filter(patient=patient, path=url, user=chain["staff"][who].user)
        assert logged.count() == 1  # a refused read is logged too, as denied
        entry = logged.get()
        assert entry.reason == (expected or AccessReason.DENIED)
        assert entry.outcome == ("allowed" if expected else "denied") and entry.ip == "127.0.0.1"


def test_unknown_patient_looks_exactly_like_a_forbidden_one(chain, patients, login):
    client = login(chain["staff"]["clinician"])
    forbidden = client.get(reverse("records:patient-detail", args=[patients["city"].pk]))
    missing = client.get(reverse("records:patient-detail", args=[999999]))
    assert forbidden.status_code == missing.status_code == 404
    api_forbidden = client.get(reverse("api-patient-detail", args=[patients["city"].pk]))
    api_missing = client.get(reverse("api-patient-detail", args=[999999]))
    assert api_forbidden.status_code == api_missing.status_code == 404
    assert api_forbidden.json() == api_missing.json()


def test_active_referral_opens_the_record_to_the_receiving_end_and_closes_after(chain, patients):
    coordinator = chain["staff"]["coordinator"].user
    patient = patients["town"]
    referral = make_referral(patient, chain["township"], chain["city"], ReferralStatus.SUBMITTED)
    assert can_read_patient(coordinator, patient).reason == AccessReason.REFERRAL
    assert readable_patients(coordinator).filter(pk=patient.pk).exists()
    referral.status = ReferralStatus.COMPLETED
    referral.save()
    assert not can_read_patient(coordinator, patient)
    Referral.objects.filter(pk=referral.pk).update(status=ReferralStatus.DRAFT)
    assert not can_read_patient(coordinator, patient)


def test_downward_referral_opens_city_patient_to_township(chain, patients):
    make_referral(patients["city"], chain["city"], chain["township"], ReferralStatus.ACCEPTED)
    assert can_read_patient(chain["staff"]["clinician"].user, patients["city"]).reason == AccessReason.REFERRAL


def test_visit_at_own_institution_opens_only_own_visits(chain, patients):
    EncounterFactory(patient=patients["city"], institution=chain["township"])
    decision = can_read_patient(chain["staff"]["clerk"].user, patients["city"])
    assert decision.reason == AccessReason.OWN_VISITS and not decision.full


def test_consent_withdrawn_closes_the_record(chain, patients, login):
    from django.core.exceptions import PermissionDenied

    from records.services import record_consent

    village_doctor_patient = patients["village"]
    coordinator = chain["staff"]["coordinator"].user
    assert can_read_patient(coordinator, village_doctor_patient)
    # The village clinic has no staff in the chain fixture; the township clinician cannot record consent there.
    with pytest.raises(PermissionDenied):
        record_consent(actor=chain["staff"]["clinician"].user, patient=village_doctor_patient, granted=False)
    patient = patients["town"]
    record_consent(actor=chain["staff"]["clerk"].user, patient=patient, granted=True)
    patient.refresh_from_db()
    assert can_read_patient(coordinator, patient).reason == AccessReason.CONSENT
    record_consent(actor=chain["staff"]["clerk"].user, patient=patient, granted=False)
    patient.refresh_from_db()
    assert not patient.consents_to_sharing and not can_read_patient(coordinator, patient)
    assert list(patient.consents.values_list("granted", flat=True)) == [False, True]


def test_break_glass_is_time_limited_audited_and_flagged(chain, patients, login):
    coordinator = chain["staff"]["coordinator"]
    patient = patients["town"]
    client = login(coordinator)
    short = client.post(
        reverse("records:break-glass"), {"resident_id": patient.resident_id, "reason_code": "emergency", "reason": "急"}
    )
    assert short.status_code == 200 and "reason" in short.context["form"].errors
    assert not BreakGlassAccess.objects.exists()
    response = client.post(
        reverse("records:break-glass"),
        {"resident_id": patient.resident_id, "reason_code": "unconscious", "reason": "急诊昏迷，需要查看既往用药和过敏史"},
    )
    assert response.status_code == 302
    grant = BreakGlassAccess.objects.get()
    assert grant.reason_code == "unconscious"
    # The home clinic has a notice, as the message says.
    assert HomeNotice.objects.filter(institution=chain["township"], kind="break_glass", break_glass=grant).exists()
    assert grant.expires_at - grant.started_at == datetime.timedelta(hours=4)
    page = client.get(reverse("records:patient-detail", args=[patient.pk]))
    assert page.status_code == 200
    log = AccessLog.objects.get(patient=patient)
    assert log.reason == AccessReason.BREAK_GLASS and log.break_glass == grant
    event = AuditEvent.objects.get(action="records.break_glass")
    assert event.institution == chain["township"]
    assert patient.resident_id not in str(event.detail) and patient.name not in str(event.detail)
    # Flagged to the home institution.
    queue = login(chain["staff"]["clerk"]).get(reverse("records:index-queue"))
    assert grant in list(queue.context["break_glass"])
    log_page = login(chain["staff"]["clerk"]).get(reverse("records:patient-access-log", args=[patient.pk]))
    assert "急诊昏迷" in log_page.content.decode()
    # Expired: closed again.
    BreakGlassAccess.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    client = login(coordinator)
    assert client.get(reverse("records:patient-detail", args=[patient.pk])).status_code == 404


@pytest.mark.parametrize("who", ["outsider", "clerk", "hospital_admin", "insurance", "consortium_admin"])
def test_break_glass_is_open_to_clinical_roles_only(chain, patients, login, who):
    client = login(chain["staff"][who])
    assert client.get(reverse("records:break-glass")).status_code == 404
    body = {"resident_id": patients["town"].resident_id, "reason_code": "emergency", "reason": "急诊昏迷需要查看病历"}
    assert client.post(reverse("records:break-glass"), body).status_code == 404
    assert not BreakGlassAccess.objects.exists()


@pytest.mark.parametrize("reason", ["急", "aaaaaaaaaa", "1111111111", "..........", "急急急急急急急急急急"])
def test_break_glass_answers_the_same_whether_or_not_the_id_is_registered(chain, patients, login, reason):
    client = login(chain["staff"]["coordinator"])
    for good in (False, True):
        text = "急诊昏迷需要查看病历" if good else reason
        outcomes = []
        for number in (patients["outsider"].resident_id, "11010519491231002X"):
            answer = client.post(
                reverse("records:break-glass"), {"resident_id": number, "reason_code": "emergency", "reason": text}
            )
            assert answer.status_code == 200
            outcomes.append(answer.context["form"].errors)
        assert outcomes[0] == outcomes[1]
        assert ("reason" in outcomes[0]) is (not good)
    assert not BreakGlassAccess.objects.exists()


def test_break_glass_needs_a_coded_reason(chain, patients):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as info:
        start_break_glass(
            actor=chain["staff"]["coordinator"].user,
            patient=patients["town"],
            reason="急诊昏迷需要查看病历",
            reason_code="curiosity",
        )
    assert "reason_code" in info.value.message_dict


def test_break_glass_service_refuses_without_rights(chain, patients):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        start_break_glass(actor=chain["staff"]["outsider"].user, patient=patients["town"], reason="急诊昏迷需要查看病历")


def test_access_log_only_for_home_institution(chain, patients, login):
    patient = patients["town"]
    assert login(chain["staff"]["clerk"]).get(reverse("records:patient-access-log", args=[patient.pk])).status_code == 200
    assert login(chain["staff"]["coordinator"]).get(reverse("records:patient-access-log", args=[patient.pk])).status_code == 404
    assert login(chain["staff"]["coordinator"]).get(reverse("api-patient-access-log", args=[patient.pk])).status_code == 404
    assert login(chain["staff"]["clerk"]).get(reverse("api-patient-access-log", args=[patient.pk])).status_code == 200


def test_identifiers_never_reach_application_logs(chain, patients, login, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    client = login(chain["staff"]["clinician"])
    patient = patients["town"]
    client.get(reverse("records:patient-detail", args=[patient.pk]))
    client.post(reverse("records:patient-search"), {"q": patient.resident_id})
    client.get(reverse("api-patient-fhir", args=[patient.pk]))
    text = caplog.text
    assert patient.resident_id not in text and patient.name not in text


def test_list_and_search_answers_log_every_patient_shown_with_address_and_user_agent(chain, patients, login):
    clinician = chain["staff"]["clinician"]
    client = login(clinician)
    listed = client.get("/api/v1/patients/", {"limit": 100}, REMOTE_ADDR="10.0.0.7", HTTP_USER_AGENT="HIS-probe/2")
    shown = {row["id"] for row in listed.json()["results"]}
    assert shown == {patients["town"].pk, patients["village"].pk}
    entries = AccessLog.objects.filter(action="list", user=clinician.user)
    assert {e.patient_id for e in entries} == shown
    assert {(e.ip, e.user_agent) for e in entries} == {("10.0.0.7", "HIS-probe/2")}
    assert {e.patient_id: e.reason for e in entries} == {
        patients["town"].pk: AccessReason.OWN_INSTITUTION,
        patients["village"].pk: AccessReason.CONSENT,
    }
    client.post("/api/v1/patients/search/", {"q": patients["village"].name}, content_type="application/json")
    assert AccessLog.objects.filter(action="search", patient=patients["village"]).count() == 1
    client.post(reverse("records:patient-search"), {"q": patients["town"].name})
    assert AccessLog.objects.filter(action="search", patient=patients["town"], path=reverse("records:patient-search")).exists()


def test_a_refused_read_is_logged_as_denied_and_the_home_clinic_sees_it(chain, patients, login):
    outsider = chain["staff"]["outsider"]
    patient = patients["town"]
    assert login(outsider).get(reverse("records:patient-detail", args=[patient.pk])).status_code == 404
    entry = AccessLog.objects.get(patient=patient)
    assert entry.outcome == "denied" and entry.reason == AccessReason.DENIED and entry.user == outsider.user
    page = login(chain["staff"]["clerk"]).get(reverse("records:patient-access-log", args=[patient.pk]))
    assert entry in list(page.context["entries"])
