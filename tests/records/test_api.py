import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from consortium.models import ApiClient, ApiClientKind
from records.models import AccessLog, Patient
from tests.factories import make_resident_id
from tests.problems import fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def his(chain):
    client = ApiClient(name="镇卫生院 HIS", kind=ApiClientKind.MEMBER_SYSTEM, institution=chain["township"])
    token = client.issue_token()
    client.save()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    api.api_client = client
    return api


def test_member_system_registers_idempotently(chain, his):
    rid = make_resident_id(sex="F")
    body = {"name": "周丽", "sex": "F", "resident_id": rid, "consents_to_sharing": True}
    first = his.post(reverse("api-patient-list"), body, format="json", HTTP_IDEMPOTENCY_KEY="abc-1")
    again = his.post(reverse("api-patient-list"), body, format="json", HTTP_IDEMPOTENCY_KEY="abc-1")
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["resident_id"] == rid
    assert Patient.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "周丽", "sex": "F", "resident_id": "420525197503091234"}, "resident_id"),
        ({"name": "", "sex": "F", "birth_date": "1970-01-01"}, "name"),
        ({"name": "周丽", "sex": "Q", "birth_date": "1970-01-01"}, "sex"),
        ({"name": "周丽", "sex": "F"}, "birth_date"),
        ({"name": "周丽", "sex": "F", "birth_date": "2999-01-01"}, "birth_date"),
        ({"name": "周丽", "sex": "F", "birth_date": "1970-01-01", "phone": "abc"}, "phone"),
    ],
)
def test_bad_registration_is_400_with_field_message(chain, his, body, field):
    response = his.post(reverse("api-patient-list"), body, format="json")
    assert field in fields(response)
    assert not Patient.objects.exists()


def test_api_reads_are_logged_with_the_client(chain, his, patients):
    patient = patients["town"]
    for name in ("api-patient-detail", "api-patient-summary", "api-patient-fhir"):
        assert his.get(reverse(name, args=[patient.pk])).status_code == 200
    logs = AccessLog.objects.filter(patient=patient)
    assert logs.count() == 3
    assert {log.api_client_id for log in logs} == {his.api_client.pk}
    assert his.get(reverse("api-patient-detail", args=[patients["city"].pk])).status_code == 404


def test_search_masks_identifiers_for_readers_elsewhere(chain, patients, login):
    client = login(chain["staff"]["coordinator"])
    rows = client.post(reverse("api-patient-search"), {"q": "王建"}, content_type="application/json").json()
    assert [row["id"] for row in rows] == [patients["village"].pk]
    assert rows[0]["resident_id"] == patients["village"].masked_resident_id


def test_clinical_summary_shape(chain, patients, login):
    from decimal import Decimal

    from records.models import Allergy, Observation, Prescription
    from tests.factories import DiagnosisFactory, EncounterFactory

    patient = patients["town"]
    encounter = EncounterFactory(patient=patient)
    DiagnosisFactory(encounter=encounter, code="I10", description="原发性高血压")
    Prescription.objects.create(encounter=encounter, drug_name="氨氯地平片", dose="5mg", frequency="qd", days=30)
    Observation.objects.create(
        encounter=encounter,
        kind="lab",
        code="GLU",
        name="空腹血糖",
        value=Decimal("7.8"),
        unit="mmol/L",
        reference_low=Decimal("3.9"),
        reference_high=Decimal("6.1"),
    )
    Allergy.objects.create(patient=patient, substance="青霉素", reaction="皮疹")
    summary = login(chain["staff"]["clinician"]).get(reverse("api-patient-summary", args=[patient.pk])).json()
    assert summary["diagnoses"][0]["code"] == "I10"
    assert summary["medications"][0]["drug"] == "氨氯地平片"
    assert summary["allergies"] == [{"substance": "青霉素", "reaction": "皮疹"}]
    assert summary["labs"][0]["out_of_range"] is True
    assert patient.resident_id not in str(summary)


def test_icd10_api(chain, login):
    rows = login(chain["staff"]["clinician"]).get(reverse("api-icd10"), {"q": "J06"}).json()
    assert rows[0]["code"] == "J06.9" and rows[0]["name_zh"] == "急性上呼吸道感染"


def test_schema_lists_records_endpoints(chain, login):
    schema = login(chain["staff"]["clinician"]).get(reverse("api-schema")).content.decode()
    for path in ("/api/v1/patients/", "/api/v1/fhir/", "/api/v1/patients/{id}/fhir/"):
        assert path in schema


def test_search_terms_are_refused_in_urls_and_accepted_in_the_body(chain, patients, login):
    client = login(chain["staff"]["clerk"])
    patient = patients["town"]
    refused = client.get(reverse("api-patient-list"), {"q": patient.resident_id})
    assert fields(refused) == {"q"}
    listed = client.get(reverse("api-patient-list")).json()
    assert [row["id"] for row in listed["results"]] == [patient.pk]
    found = client.post(reverse("api-patient-search"), {"q": patient.resident_id}, content_type="application/json")
    assert [row["id"] for row in found.json()] == [patient.pk]
    empty = client.post(reverse("api-patient-search"), {}, content_type="application/json")
    assert fields(empty) == {"q"}
