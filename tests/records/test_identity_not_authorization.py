"""Identity is not authorization: a visit matched to another member's patient links, it never opens the record.

Each upload path (HIS batch with the member system's token, FHIR import, a clerk's upload of a batch
with the session, a visit form, web registration) is driven for a patient registered elsewhere who
has not consented; afterwards the uploading institution reads only its own visits and the
demographics it needs, and the home clinic has a notice.  Consent withdrawn after a visit closes the
rest of the record at once.
"""

import json

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from consortium.models import ApiClient, ApiClientKind
from records import fhir
from records.access import can_read_patient, readable_patients
from records.models import AccessReason, Allergy, Encounter, HomeNotice, NoticeKind
from records.services import EncounterInput, acknowledge_notice, record_consent, record_encounter
from sync.batches import land_batch
from tests.factories import DiagnosisFactory, EncounterFactory, PatientFactory

pytestmark = pytest.mark.django_db

HOME_VISIT_COMPLAINT = "城市医院住院：心衰"


@pytest.fixture
def city_patient(chain):
    """A city hospital's patient with a visit there and an allergy; no consent to sharing."""
    patient = PatientFactory(
        home_institution=chain["city"],
        name="陈建华",
        name_pinyin="chen jian hua",
        phone="13911112222",
        address="市区解放路1号",
        insurance_number="YB420502777",
    )
    encounter = EncounterFactory(patient=patient, institution=chain["city"], chief_complaint=HOME_VISIT_COMPLAINT)
    DiagnosisFactory(encounter=encounter, code="I50.9", description="心力衰竭")
    Allergy.objects.create(patient=patient, substance="青霉素")
    return patient


def his_client(institution) -> APIClient:
    client = ApiClient(name="HIS", kind=ApiClientKind.MEMBER_SYSTEM, institution=institution)
    token = client.issue_token()
    client.save()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def batch_body(patient, batch_id="B-MATCH") -> str:
    return json.dumps(
        {
            "batch_id": batch_id,
            "visits": [
                {
                    "external_id": "TOWN-V1",
                    "kind": "outpatient",
                    "started_at": "2026-11-20T09:30:00+08:00",
                    "chief_complaint": "头晕",
                    "patient": {"resident_id": patient.resident_id, "name": patient.name},
                    "diagnoses": [{"code": "I10", "description": "高血压", "primary": True}],
                    "charge_items": [],
                }
            ],
        },
        ensure_ascii=False,
    )


def assert_own_visits_only(chain, patient, staff, client):
    """The township reads its own visit and the demographics, nothing of the city's record."""
    user = staff.user
    decision = can_read_patient(user, patient)
    assert decision.reason == AccessReason.OWN_VISITS and not decision.full
    assert decision.visits_of == chain["township"].pk
    assert readable_patients(user).filter(pk=patient.pk).exists()  # found to record the next visit
    page = client.get(reverse("records:patient-detail", args=[patient.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert HOME_VISIT_COMPLAINT not in text and "青霉素" not in text
    assert patient.phone not in text and patient.resident_id not in text and patient.address not in text
    assert {e.institution_id for e in page.context["encounters"]} == {chain["township"].pk}
    summary = client.get(reverse("api-patient-summary", args=[patient.pk])).json()
    assert {e["institution"] for e in summary["recent_encounters"]} == {chain["township"].code}
    assert summary["allergies"] == [] and "I50.9" not in json.dumps(summary)
    bundle = client.get(reverse("api-patient-fhir", args=[patient.pk])).json()
    dumped = json.dumps(bundle, ensure_ascii=False)
    assert HOME_VISIT_COMPLAINT not in dumped and "I50.9" not in dumped and patient.resident_id not in dumped
    assert patient.phone not in dumped


def assert_home_notified(chain, patient, visits=1):
    notice = HomeNotice.objects.get(patient=patient)
    assert notice.institution == chain["city"] and notice.from_institution == chain["township"]
    assert notice.kind == NoticeKind.VISIT_ELSEWHERE and notice.visits == visits and notice.acknowledged_at is None


def test_his_batch_matched_to_another_members_patient_opens_only_own_visits(chain, city_patient, login):
    api = his_client(chain["township"])
    response = api.post("/api/v1/sync/batches/", data=batch_body(city_patient), content_type="application/json")
    assert response.status_code == 202, response.json()
    batch = land_batch(batch_id=response.json()["id"])
    assert batch.rows_landed == 1 and batch.patients_created == 0
    assert Encounter.objects.filter(patient=city_patient, institution=chain["township"]).count() == 1
    assert_own_visits_only(chain, city_patient, chain["staff"]["clinician"], login(chain["staff"]["clinician"]))
    assert_own_visits_only(chain, city_patient, chain["staff"]["clerk"], login(chain["staff"]["clerk"]))
    assert_home_notified(chain, city_patient)
    # The HIS itself reads no more than the clinic does.
    assert api.get(reverse("api-patient-summary", args=[city_patient.pk])).json()["allergies"] == []


def test_clerk_upload_of_a_batch_opens_only_own_visits(chain, city_patient, login):
    client = login(chain["staff"]["clerk"])
    response = client.post("/api/v1/sync/batches/", data=batch_body(city_patient), content_type="application/json")
    assert response.status_code == 202, response.json()
    land_batch(batch_id=response.json()["id"])
    assert_own_visits_only(chain, city_patient, chain["staff"]["clerk"], client)
    assert_home_notified(chain, city_patient)


def test_fhir_import_matched_to_another_members_patient_opens_only_own_visits(chain, city_patient, login):
    visit = EncounterFactory(patient=city_patient, institution=chain["township"], external_id="TOWN-F1")
    DiagnosisFactory(encounter=visit, code="I10", description="高血压")
    bundle = fhir.export_bundle(city_patient, include_identifiers=True, encounters=[visit], as_transaction=True)
    visit.delete()
    response = his_client(chain["township"]).post(reverse("api-fhir-import"), bundle, format="json")
    assert response.status_code == 200, response.json()
    statuses = {(e["resourceType"], e["status"]) for e in response.json()["entry"]}
    assert ("Patient", "matched") in statuses and ("Encounter", "created") in statuses
    assert_own_visits_only(chain, city_patient, chain["staff"]["clinician"], login(chain["staff"]["clinician"]))
    assert_home_notified(chain, city_patient)


def test_visit_form_for_a_patient_seen_before_notifies_and_accumulates(chain, city_patient, login):
    EncounterFactory(patient=city_patient, institution=chain["township"])  # an earlier visit (e.g. from a batch)
    clinician = chain["staff"]["clinician"]
    for _ in range(2):
        record_encounter(
            actor=clinician.user,
            institution=chain["township"],
            patient=city_patient,
            data=EncounterInput(kind="outpatient", started_at=timezone.now(), diagnoses=[{"code": "I10"}]),
        )
    assert_own_visits_only(chain, city_patient, clinician, login(clinician))
    assert_home_notified(chain, city_patient, visits=2)
    acknowledge_notice(actor=chain["staff"]["hospital_admin"].user, notice=HomeNotice.objects.get())
    record_encounter(
        actor=clinician.user,
        institution=chain["township"],
        patient=city_patient,
        data=EncounterInput(kind="outpatient", started_at=timezone.now()),
    )
    assert HomeNotice.objects.filter(acknowledged_at__isnull=True).get().visits == 1
    page = login(chain["staff"]["hospital_admin"]).get(reverse("records:index-queue"))
    assert len(page.context["notices"]) == 2 and "home-notices" in page.content.decode()


def test_a_visit_at_the_home_clinic_notifies_no_one(chain, login):
    patient = PatientFactory(home_institution=chain["township"])
    record_encounter(
        actor=chain["staff"]["clinician"].user,
        institution=chain["township"],
        patient=patient,
        data=EncounterInput(kind="outpatient", started_at=timezone.now()),
    )
    assert not HomeNotice.objects.exists()


def test_web_registration_of_a_registered_resident_id_opens_nothing(chain, city_patient, login):
    client = login(chain["staff"]["clerk"])
    response = client.post(
        reverse("records:patient-register"),
        {"name": city_patient.name, "sex": "M", "resident_id": city_patient.resident_id, "registration_key": "k1"},
    )
    assert response.status_code == 200 and "resident_id" in response.context["form"].errors
    assert not can_read_patient(chain["staff"]["clerk"].user, city_patient)
    assert client.get(reverse("records:patient-detail", args=[city_patient.pk])).status_code == 404


def test_consent_withdrawn_after_a_visit_closes_the_rest_of_the_record_at_once(chain, login):
    patient = PatientFactory(home_institution=chain["village"], consents_to_sharing=True)
    EncounterFactory(patient=patient, institution=chain["village"], chief_complaint=HOME_VISIT_COMPLAINT)
    EncounterFactory(patient=patient, institution=chain["township"], chief_complaint="复诊")
    clinician = chain["staff"]["clinician"]
    client = login(clinician)
    assert can_read_patient(clinician.user, patient).reason == AccessReason.CONSENT
    assert HOME_VISIT_COMPLAINT in client.get(reverse("records:patient-detail", args=[patient.pk])).content.decode()
    village_doctor = chain["staff"]["clerk"].__class__.objects.create(
        user=type(clinician.user).objects.create_user("vdoc"), institution=chain["village"], role="clinic_clinician"
    )
    record_consent(actor=village_doctor.user, patient=patient, granted=False)
    decision = can_read_patient(clinician.user, patient)
    assert decision.reason == AccessReason.OWN_VISITS and not decision.full
    page = client.get(reverse("records:patient-detail", args=[patient.pk])).content.decode()
    assert HOME_VISIT_COMPLAINT not in page and "复诊" in page
    # The coordinator of the city hospital, who read it by consent and saw no visit, loses it entirely.
    assert not can_read_patient(chain["staff"]["coordinator"].user, patient)


def test_a_referral_from_a_clinic_with_only_own_visits_snapshots_only_those(chain, city_patient):
    from referrals.snapshot import clinical_summary_snapshot

    EncounterFactory(patient=city_patient, institution=chain["township"], chief_complaint="头晕")
    decision = can_read_patient(chain["staff"]["clinician"].user, city_patient)
    snapshot = clinical_summary_snapshot(city_patient, visits_of=decision.visits_of)
    assert [e["institution"] for e in snapshot["recent_encounters"]] == [chain["township"].code]
    assert snapshot["allergies"] == [] and all(d["code"] != "I50.9" for d in snapshot["diagnoses"])


def _refer_up(chain, patient, *, urgency="routine"):
    from referrals.services import create_referral
    from tests.factories import DepartmentFactory

    cardiology = DepartmentFactory(institution=chain["city"], code="CARD", name="心内科", accepts_referrals=True)
    return create_referral(
        actor=chain["staff"]["clinician"].user, patient=patient, to_department=cardiology, urgency=urgency, reason="血压控制不佳"
    )


def test_a_clinic_with_only_own_visits_gains_nothing_of_the_record_by_referring_the_patient(chain, login):
    """The referral opens the record to the receiving end; the sender keeps only what it read before."""
    patient = PatientFactory(home_institution=chain["village"], consents_to_sharing=False)
    EncounterFactory(patient=patient, institution=chain["village"], chief_complaint=HOME_VISIT_COMPLAINT)
    EncounterFactory(patient=patient, institution=chain["township"], chief_complaint="头晕")
    clinician = chain["staff"]["clinician"]
    referral = _refer_up(chain, patient)
    assert referral.status == "submitted"
    decision = can_read_patient(clinician.user, patient)
    assert decision.reason == AccessReason.OWN_VISITS and not decision.full
    assert decision.visits_of == chain["township"].pk
    client = login(clinician)
    page = client.get(reverse("records:patient-detail", args=[patient.pk])).content.decode()
    assert HOME_VISIT_COMPLAINT not in page and "头晕" in page
    summary = json.dumps(client.get(reverse("api-patient-summary", args=[patient.pk])).json(), ensure_ascii=False)
    assert HOME_VISIT_COMPLAINT not in summary
    # The referral itself stays the sender's to follow, and its snapshot holds only the sender's visit.
    detail = client.get(reverse("referrals:detail", args=[referral.pk]))
    assert detail.status_code == 200 and HOME_VISIT_COMPLAINT not in detail.content.decode()
    # The receiving hospital reads the whole record while the referral is active.
    coordinator = chain["staff"]["coordinator"].user
    assert can_read_patient(coordinator, patient).reason == AccessReason.REFERRAL
    assert can_read_patient(coordinator, patient).full


def test_the_home_clinics_referral_still_opens_the_record_to_the_hospital(chain, login):
    patient = PatientFactory(home_institution=chain["township"], consents_to_sharing=False)
    EncounterFactory(patient=patient, institution=chain["township"], chief_complaint="头晕")
    coordinator = chain["staff"]["coordinator"]
    assert not can_read_patient(coordinator.user, patient)
    referral = _refer_up(chain, patient)
    assert can_read_patient(chain["staff"]["clinician"].user, patient).reason == AccessReason.OWN_INSTITUTION
    assert can_read_patient(coordinator.user, patient).reason == AccessReason.REFERRAL
    page = login(coordinator).get(reverse("records:patient-detail", args=[patient.pk]))
    assert page.status_code == 200 and "头晕" in page.content.decode()
    type(referral).objects.filter(pk=referral.pk).update(status="completed")
    assert not can_read_patient(coordinator.user, patient)
