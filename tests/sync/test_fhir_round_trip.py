"""One FHIR vocabulary: a Bundle the records API exports is recognised by sync's inbound path.

The township's record of a patient is exported through the records API and uploaded, as it is, by
the city hospital's own HIS through the sync batch upload (an inbound batch lands visits as the
uploading institution's).  The patient is recognised by the identifiers the export carries (no new
patient, no review), the visits land with the export's encounter identifiers as external IDs and
the same diagnoses and charges, and uploading the Bundle again duplicates nothing.
"""

import json
from decimal import Decimal

import pytest
from django.urls import reverse

from consortium.models import ApiClient, ApiClientKind
from records import fhir_vocabulary as fv
from records.models import Encounter, MatchReview, Patient
from records.services import EncounterInput, record_encounter
from sync import batches, dispatch
from sync.models import InboundBatchStatus
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/sync/batches/"


@pytest.fixture
def city_his(chain):
    client = ApiClient(name="市医院 HIS", kind=ApiClientKind.MEMBER_SYSTEM, institution=chain["city"])
    token = client.issue_token()
    client.save()
    return token


@pytest.fixture
def record(chain, now):
    patient = PatientFactory(home_institution=chain["township"], full_identity=True, consents_to_sharing=True)
    clinician = chain["staff"]["clinician"].user
    visits = [
        EncounterInput(
            kind="outpatient",
            started_at=now.replace(microsecond=0),
            chief_complaint="多饮多尿一月",
            external_id="HIS-0001",
            diagnoses=[{"code": "E11.9", "is_primary": True}, {"code": "I10"}],
            charge_items=[
                {
                    "item_code": "MET",
                    "name": "二甲双胍片",
                    "category": "drug",
                    "catalogue_class": "A",
                    "quantity": Decimal("3"),
                    "unit_price": Decimal("12.35"),
                },
            ],
        ),
        EncounterInput(
            kind="follow_up",
            started_at=now.replace(microsecond=0),
            chief_complaint="复诊",
            diagnoses=[{"code": "E11.9", "is_primary": True}],
            charge_items=[
                {
                    "item_code": "LAB-GLU",
                    "name": "血糖测定",
                    "category": "laboratory",
                    "catalogue_class": "B",
                    "quantity": Decimal("1"),
                    "unit_price": Decimal("8.00"),
                }
            ],
        ),
    ]
    for data in visits:
        record_encounter(actor=clinician, institution=chain["township"], patient=patient, data=data)
    return patient


def visit_rows(encounters):
    return sorted(
        (
            encounter.kind,
            encounter.started_at,
            encounter.chief_complaint,
            sorted((d.code, d.is_primary) for d in encounter.diagnoses.all()),
            sorted(
                (c.item_code, c.category, c.catalogue_class, c.quantity, c.unit_price, c.amount)
                for c in encounter.charge_items.all()
            ),
        )
        for encounter in encounters
    )


def upload(client, token, bundle):
    response = client.post(
        URL, data=json.dumps(bundle, ensure_ascii=False), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 202, response.json()
    return batches.land_batch(batch_id=response.json()["id"])


def test_a_records_export_lands_through_the_sync_inbound_path_as_the_same_patient(chain, record, login, client, city_his):
    township_visits = visit_rows(Encounter.objects.filter(institution=chain["township"]))
    exported = (
        login(chain["staff"]["clinician"]).get(reverse("api-patient-fhir", args=[record.pk]), {"type": "transaction"}).json()
    )
    [patient_entry] = [e["resource"] for e in exported["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert {(i["system"], i["value"]) for i in patient_entry["identifier"]} == {
        (fv.RESIDENT_ID_SYSTEM, record.resident_id),
        (fv.INSURANCE_SYSTEM, record.insurance_number),
    }
    exported_ids = sorted(
        i["value"]
        for e in exported["entry"]
        if e["resource"]["resourceType"] == "Encounter"
        for i in e["resource"]["identifier"]
        if i["system"] == fv.ENCOUNTER_ID_SYSTEM
    )
    client.logout()
    patients = Patient.objects.count()

    batch = upload(client, city_his, exported)

    assert batch.status == InboundBatchStatus.LANDED, batch.row_errors or batch.failure_reason
    assert (batch.rows_landed, batch.rows_failed, batch.patients_created) == (2, 0, 0)
    assert Patient.objects.count() == patients and not MatchReview.objects.exists()
    landed = Encounter.objects.filter(institution=chain["city"])
    assert {encounter.patient_id for encounter in landed} == {record.pk}
    assert sorted(landed.values_list("external_id", flat=True)) == exported_ids
    assert visit_rows(landed) == township_visits
    record.refresh_from_db()
    assert (record.name, record.sex, record.insurance_number, record.village) == ("孙桂兰", "F", "YB420525001", "凤阳村")

    # The same upload again is the same batch; the same Bundle under a new batch ID duplicates nothing.
    body = json.dumps(exported, ensure_ascii=False)
    response = client.post(URL, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {city_his}")
    assert response.status_code == 200 and response.json()["id"] == batch.pk
    exported["identifier"]["value"] = "resent-under-a-new-batch-id"
    repeat = upload(client, city_his, exported)
    assert repeat.status == InboundBatchStatus.LANDED, (repeat.row_errors, repeat.failure_reason)
    assert (repeat.rows_landed, repeat.rows_already_present, repeat.patients_created) == (0, 2, 0)
    assert Patient.objects.count() == patients
    assert Encounter.objects.filter(institution=chain["city"]).count() == 2


def test_sync_messages_describe_a_visit_with_the_records_builders(chain, record):
    """An outbound message carries the visit's resources exactly as the records export writes them."""
    from consortium.models import OutboxEvent
    from consortium.permissions import SYSTEM
    from records import fhir as records_fhir
    from sync import endpoints

    endpoints.register_endpoint(
        actor=SYSTEM, institution=chain["city"], name="HIS", url="http://127.0.0.1:9/fhir", events=["encounter"]
    )
    dispatch.dispatch_pending_events()
    encounter = record.encounters.get(external_id="HIS-0001")
    event = OutboxEvent.objects.get(aggregate_type="records.encounter", aggregate_id=str(encounter.pk))
    message = {entry["fullUrl"]: entry["resource"] for entry in event.fhir["entry"]}
    exported = {e["fullUrl"]: e["resource"] for e in records_fhir.export_bundle(record, include_identifiers=True)["entry"]}
    patient_url = records_fhir.resource_url("patient", record.pk)
    encounter_url = records_fhir.resource_url("encounter", encounter.pk)

    def without_references_to_organizations(resource: dict) -> dict:
        # The message adds a reference to its Organization entry next to the institution's identifier.
        return {
            key: {"identifier": value["identifier"]} if key in ("serviceProvider", "managingOrganization") else value
            for key, value in resource.items()
        }

    rows = [encounter_url, *(url for url, resource in exported.items() if encounter_url in json.dumps(resource))]
    assert len(rows) == 4  # the encounter, two conditions, one charge item
    for url in [patient_url, *rows]:
        assert without_references_to_organizations(message[url]) == exported[url]
    assert message[encounter_url]["serviceProvider"]["reference"] in message
