import copy

import pytest
from django.urls import reverse
from fhir.resources.R4B.bundle import Bundle
from rest_framework.test import APIClient

from consortium.models import ApiClient, ApiClientKind
from records.models import Allergy, ChargeItem, Diagnosis, Encounter, MatchReview, Observation, Patient, Prescription
from tests.factories import PatientFactory
from tests.problems import fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def his(chain):
    client = ApiClient(name="镇卫生院 HIS", kind=ApiClientKind.MEMBER_SYSTEM, institution=chain["township"])
    token = client.issue_token()
    client.save()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def snapshot(patient):
    encounter = patient.encounters.get()
    return {
        "patient": (
            patient.name,
            patient.name_pinyin,
            patient.sex,
            patient.birth_date,
            patient.resident_id,
            patient.insurance_number,
            patient.phone,
            patient.village,
        ),
        "encounter": (
            encounter.kind,
            encounter.started_at.replace(microsecond=0),
            encounter.chief_complaint,
            encounter.external_id,
        ),
        "diagnoses": sorted((d.code, d.description, d.is_primary) for d in encounter.diagnoses.all()),
        "prescriptions": sorted((p.drug_name, p.drug_code, p.days) for p in encounter.prescriptions.all()),
        "observations": sorted(
            (o.kind, o.code, o.name, o.value, o.unit, o.reference_low, o.reference_high) for o in encounter.observations.all()
        ),
        "charges": sorted(
            (c.item_code, c.name, c.category, c.catalogue_class, c.quantity, c.unit_price, c.amount)
            for c in encounter.charge_items.all()
        ),
    }


def test_export_validates_and_carries_every_resource_type(chain, full_record, login):
    bundle = login(chain["staff"]["clinician"]).get(reverse("api-patient-fhir", args=[full_record.pk])).json()
    Bundle.model_validate(bundle)
    types = sorted(entry["resource"]["resourceType"] for entry in bundle["entry"])
    assert types == sorted(
        [
            "Patient",
            "Encounter",
            "Condition",
            "Condition",
            "MedicationRequest",
            "Observation",
            "Observation",
            "ChargeItem",
            "ChargeItem",
        ]
    )


def test_export_to_a_reader_elsewhere_leaves_out_identifiers(chain, full_record, login):
    from records.services import record_consent

    record_consent(actor=chain["staff"]["clerk"].user, patient=full_record, granted=True)
    bundle = login(chain["staff"]["coordinator"]).get(reverse("api-patient-fhir", args=[full_record.pk])).json()
    text = str(bundle)
    assert full_record.resident_id not in text and full_record.phone not in text


def test_round_trip_into_an_empty_database(chain, full_record, login, his):
    before = snapshot(full_record)
    exported = (
        login(chain["staff"]["clinician"]).get(reverse("api-patient-fhir", args=[full_record.pk]), {"type": "transaction"}).json()
    )
    assert exported["type"] == "transaction"
    for model in (ChargeItem, Observation, Prescription, Diagnosis, Allergy, Encounter):
        model.objects.all().delete()
    from records.models import Consent

    Consent.objects.all().delete()  # the patients' access-log rows go with them (the chain is not verified here)
    Patient.objects.all().delete()

    response = his.post(reverse("api-fhir-import"), exported, format="json")
    assert response.status_code == 200, response.json()
    statuses = {entry["status"] for entry in response.json()["entry"]}
    assert statuses == {"created"}
    imported = Patient.objects.get()
    assert snapshot(imported) == before

    # The same bundle again changes nothing: the patient and the visit are matched.
    again = his.post(reverse("api-fhir-import"), exported, format="json").json()
    assert {(e["resourceType"], e["status"]) for e in again["entry"]} <= {
        ("Patient", "matched"),
        ("Encounter", "matched"),
        ("Condition", "matched"),
        ("MedicationRequest", "matched"),
        ("Observation", "matched"),
        ("ChargeItem", "matched"),
    }
    assert Patient.objects.count() == 1 and Encounter.objects.count() == 1 and ChargeItem.objects.count() == 2


def test_import_rejects_bad_entries_one_by_one(chain, full_record, login, his):
    exported = (
        login(chain["staff"]["clinician"]).get(reverse("api-patient-fhir", args=[full_record.pk]), {"type": "transaction"}).json()
    )
    bundle = copy.deepcopy(exported)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Encounter":
            resource["identifier"][0]["value"] = "HIS-0002"
        if resource["resourceType"] == "Condition" and resource["code"]["coding"][0]["code"] == "I10":
            resource["code"]["coding"][0]["code"] = "Q99.9"
        if resource["resourceType"] == "ChargeItem" and resource["code"]["coding"][0]["code"] == "LAB-GLU":
            resource["extension"] = [e for e in resource["extension"] if not e["url"].endswith("catalogue-class")]
    bundle["entry"].append(
        {
            "fullUrl": "urn:uuid:0f1c1d1e-0000-4000-8000-000000000001",
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "x"},
                "encounter": {"reference": "urn:uuid:nowhere"},
            },
            "request": {"method": "POST", "url": "Observation"},
        }
    )
    result = his.post(reverse("api-fhir-import"), bundle, format="json").json()["entry"]
    rejected = [e for e in result if e["status"] == "rejected"]
    assert len(rejected) == 3
    assert sorted(e["resourceType"] for e in rejected) == ["ChargeItem", "Condition", "Observation"]
    assert all(e["reason"] for e in rejected)
    assert any("Q99.9" in e["reason"] for e in rejected)
    encounter = Encounter.objects.get(external_id="HIS-0002")
    assert list(encounter.diagnoses.values_list("code", flat=True)) == ["E11.9"]
    assert encounter.charge_items.count() == 1
    matched_patient = next(e for e in result if e["resourceType"] == "Patient")
    assert matched_patient["status"] == "matched" and matched_patient["id"] == full_record.pk


@pytest.mark.parametrize(
    "body",
    [
        {"resourceType": "Patient"},
        {"resourceType": "Bundle", "type": "searchset", "entry": []},
        {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": {"resourceType": "Patient", "gender": 5}}]},
        [],
    ],
)
def test_import_rejects_non_bundles_with_400(chain, his, body):
    response = his.post(reverse("api-fhir-import"), body, format="json")
    assert fields(response, 400, "bundle_rejected") == {"bundle"}
    assert not Patient.objects.exists()


def test_import_of_near_duplicate_patient_goes_to_review(chain, his):
    existing = PatientFactory(
        home_institution=chain["township"],
        name="张伟",
        name_pinyin="zhang wei",
        resident_id="",
        birth_date="1970-05-17",
        village="凤阳村",
    )
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:6a1f0c9e-0000-4000-8000-000000000001",
                "resource": {
                    "resourceType": "Patient",
                    "name": [{"use": "official", "text": "张玮"}],
                    "gender": "male",
                    "birthDate": "1970-05-17",
                    "address": [{"district": "凤阳村"}],
                },
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }
    result = his.post(reverse("api-fhir-import"), bundle, format="json").json()["entry"]
    assert result[0]["status"] == "created" and result[0]["reason"]
    review = MatchReview.objects.get()
    assert review.candidate == existing and review.patient_id == result[0]["id"]


def test_the_fhir_import_takes_only_catalogue_codes_through_the_one_icd10_rule(chain, full_record, login, his):
    """A Condition whose code has the right shape but is not in the catalogue is rejected; the visit keeps the rest."""
    from django.utils import translation

    exported = (
        login(chain["staff"]["clinician"]).get(reverse("api-patient-fhir", args=[full_record.pk]), {"type": "transaction"}).json()
    )
    for entry in exported["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Encounter":
            resource["identifier"][0]["value"] = "HIS-0003"
        if resource["resourceType"] == "Condition" and resource["code"]["coding"][0]["code"] == "I10":
            resource["code"]["coding"][0]["code"] = "Z99.99"
    with translation.override("en"):
        result = his.post(reverse("api-fhir-import"), exported, format="json", HTTP_ACCEPT_LANGUAGE="en").json()["entry"]
    [rejected] = [e for e in result if e["status"] == "rejected"]
    assert rejected["resourceType"] == "Condition"
    assert "Z99.99 is not a code in the ICD-10 list." in rejected["reason"]
    encounter = Encounter.objects.get(external_id="HIS-0003")
    assert list(encounter.diagnoses.values_list("code", flat=True)) == ["E11.9"]


@pytest.mark.parametrize(
    "content_type", ["application/fhir+json", "application/fhir+json; fhir-version=4.0", "application/json; charset=utf-8"]
)
def test_import_reads_fhirs_own_media_type(chain, full_record, login, his, content_type):
    import json

    exported = (
        login(chain["staff"]["clinician"]).get(reverse("api-patient-fhir", args=[full_record.pk]), {"type": "transaction"}).json()
    )
    response = his.post(reverse("api-fhir-import"), json.dumps(exported), content_type=content_type)
    assert response.status_code == 200, response.content
    assert {e["resourceType"]: e["status"] for e in response.json()["entry"]}["Patient"] == "matched"


@pytest.mark.parametrize("content_type", ["application/fhir+json; fhir-version=3.0", "application/fhir+xml", "text/plain"])
def test_import_refuses_other_media_types_and_fhir_versions_with_415(chain, his, content_type):
    response = his.post(reverse("api-fhir-import"), '{"resourceType": "Bundle"}', content_type=content_type)
    assert response.status_code == 415
