"""Inbound visit batches: upload, idempotency, row errors, all-or-nothing, and every bad input."""

import io
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from consortium.models import OutboxEvent
from records.models import ChargeItem, Diagnosis, Encounter, Patient
from sync import batches, ingest
from sync.models import InboundBatch, InboundBatchStatus
from tests.factories import EncounterFactory, PatientFactory, make_resident_id

pytestmark = pytest.mark.django_db
URL = "/api/v1/sync/batches/"


def visit(n: int, resident_id: str | None = None, **overrides) -> dict:
    data = {
        "external_id": f"V{n:05d}",
        "kind": "outpatient",
        "started_at": "2026-11-20T09:30:00+08:00",
        "ended_at": "2026-11-20T09:50:00+08:00",
        "chief_complaint": "咳嗽三天",
        "patient": {"resident_id": resident_id or make_resident_id(), "name": "李四", "phone": "13800138000"},
        "diagnoses": [{"code": "J06.9", "description": "急性上呼吸道感染", "primary": True}],
        "charge_items": [
            {
                "item_code": "XJ01",
                "name": "阿莫西林胶囊",
                "category": "drug",
                "catalogue_class": "A",
                "quantity": "2",
                "unit_price": "12.50",
            },
            {
                "item_code": "ZL01",
                "name": "诊查费",
                "category": "consultation",
                "catalogue_class": "A",
                "quantity": 1,
                "unit_price": 10,
            },
        ],
    }
    data.update(overrides)
    return data


def body(visits, batch_id="B1", **header) -> str:
    return json.dumps({"batch_id": batch_id, **header, "visits": visits}, ensure_ascii=False)


@pytest.fixture
def api(client, member_token):
    def post(content: str | bytes, token=member_token):
        return client.post(URL, data=content, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")

    return post


def land(response):
    assert response.status_code == 202, response.json()
    return batches.land_batch(batch_id=response.json()["id"])


def nothing_stored():
    assert not InboundBatch.objects.exists()
    assert not Encounter.objects.exists()
    assert not Patient.objects.exists()


def test_a_good_batch_is_accepted_with_a_status_url_and_lands(chain, api, client, member_token):
    existing = PatientFactory(home_institution=chain["village"])
    response = api(body([visit(1), visit(2, resident_id=existing.resident_id), visit(3)]))
    assert response.status_code == 202
    status_url = response.json()["status_url"]
    assert response["Location"] == status_url
    assert response.json()["status"] == InboundBatchStatus.RECEIVED

    batch = land(response)
    assert batch.status == InboundBatchStatus.LANDED
    assert (batch.rows_total, batch.rows_landed, batch.rows_failed, batch.patients_created) == (3, 3, 0, 2)
    assert Encounter.objects.filter(institution=chain["township"]).count() == 3
    assert Encounter.objects.get(external_id="V00002").patient == existing
    assert Diagnosis.objects.count() == 3 and ChargeItem.objects.count() == 6
    assert str(ChargeItem.objects.get(encounter__external_id="V00001", item_code="XJ01").amount) == "25.00"
    new_patient = Encounter.objects.get(external_id="V00001").patient
    assert new_patient.resident_id_hash and new_patient.phone_hash and new_patient.home_institution == chain["township"]
    assert OutboxEvent.objects.filter(event_type="encounter", institution=chain["township"]).count() == 3

    status = client.get(status_url, HTTP_AUTHORIZATION=f"Bearer {member_token}").json()
    assert status["status"] == "landed" and status["rows_landed"] == 3 and status["row_errors"] == []


def test_the_same_batch_twice_changes_nothing(chain, api):
    content = body([visit(1), visit(2)])
    first = api(content)
    land(first)
    counts = (Encounter.objects.count(), Diagnosis.objects.count(), ChargeItem.objects.count(), Patient.objects.count())
    again = api(content)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert batches.land_batch(batch_id=first.json()["id"]) is None  # landed batches are never landed again
    assert (Encounter.objects.count(), Diagnosis.objects.count(), ChargeItem.objects.count(), Patient.objects.count()) == counts
    assert InboundBatch.objects.count() == 1


def test_visits_already_landed_by_another_batch_are_not_duplicated(chain, api):
    land(api(body([visit(1), visit(2)], batch_id="day-1")))
    batch = land(api(body([visit(2), visit(3)], batch_id="day-1-resend")))
    assert (batch.rows_landed, batch.rows_already_present) == (1, 1)
    assert Encounter.objects.count() == 3 and Diagnosis.objects.count() == 3


def test_bad_rows_are_reported_and_good_rows_land(chain, api):
    bad_id = make_resident_id()[:-1] + "0"
    bad_id = bad_id if bad_id != make_resident_id() else bad_id
    visits = [
        visit(1),
        visit(2, patient={"resident_id": "110101199003071234", "name": "王五"}),  # wrong check digit
        visit(3, diagnoses=[{"code": "cough"}]),
        visit(
            4,
            charge_items=[
                {
                    "item_code": "X",
                    "name": "x",
                    "category": "drug",
                    "catalogue_class": "A",
                    "quantity": 2,
                    "unit_price": "1.10",
                    "amount": "2.00",
                }
            ],
        ),
        visit(5, ended_at="2026-11-20T08:00:00+08:00"),
        visit(6, external_id="V00001"),
        visit(7, patient={"insurance_number": "NO-SUCH-NUMBER"}),
        visit(8),
    ]
    batch = land(api(body(visits)))
    assert batch.status == InboundBatchStatus.LANDED
    assert (batch.rows_landed, batch.rows_failed) == (2, 6)
    fields = {(error["row"], error["field"]) for error in batch.row_errors}
    assert fields == {
        (1, "patient.resident_id"),
        (2, "diagnoses[0].code"),
        (3, "charge_items[0].amount"),
        (4, "ended_at"),
        (5, "external_id"),
        (6, "patient.resident_id"),
    }
    assert all(error["message"] for error in batch.row_errors)
    assert "110101199003071234" not in json.dumps(batch.row_errors)  # never echo identifiers
    assert sorted(Encounter.objects.values_list("external_id", flat=True)) == ["V00001", "V00008"]


def test_all_or_nothing_with_a_bad_row_lands_nothing(chain, api):
    batch = land(api(body([visit(1), visit(2, diagnoses=[{"code": "bad"}])], all_or_nothing=True)))
    assert batch.status == InboundBatchStatus.FAILED
    assert "all_or_nothing" in batch.failure_reason
    assert batch.rows_landed == 0 and batch.rows_failed == 1
    assert batch.row_errors[0]["row"] == 1 and batch.row_errors[0]["field"] == "diagnoses[0].code"
    assert not Encounter.objects.exists() and not Patient.objects.exists() and not OutboxEvent.objects.exists()


def test_all_or_nothing_without_errors_lands_everything(chain, api):
    batch = land(api(body([visit(1), visit(2)], all_or_nothing=True)))
    assert batch.status == InboundBatchStatus.LANDED and batch.rows_landed == 2


def test_malformed_json_is_400_with_the_row_and_nothing_is_stored(chain, api):
    content = body([visit(1), visit(2)])
    second = content.index('"outpatient"', content.index('"V00002"'))
    broken = content[:second] + "outpatient" + content[second + len('"outpatient"') :]
    response = api(broken)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["row"] == 1 and error["code"] == "malformed" and error["offset"] > 0
    nothing_stored()


@pytest.mark.parametrize(
    "content", ["", "[]", "{", '{"batch_id": "B1", "visits": [1, ', '{"batch_id": "B1", "visits": []} trailing']
)
def test_truncated_or_wrong_outline_is_400(chain, api, content):
    response = api(content)
    assert response.status_code == 400, response.content
    assert response.json()["errors"]
    nothing_stored()


def test_wrong_types_are_400_naming_row_and_field(chain, api):
    visits = [
        visit(1),
        visit(2, started_at=20261120),
        visit(3, diagnoses="J06.9"),
        visit(
            4,
            charge_items=[
                {"item_code": "X", "name": "x", "category": "drug", "catalogue_class": "A", "quantity": True, "unit_price": "1"}
            ],
        ),
        "not a visit",
    ]
    response = api(body(visits, all_or_nothing="yes"))
    assert response.status_code == 400
    fields = {(e["row"], e["field"], e["code"]) for e in response.json()["errors"]}
    assert (None, "all_or_nothing", "wrong_type") in fields
    assert (1, "started_at", "wrong_type") in fields
    assert (2, "diagnoses", "wrong_type") in fields
    assert (3, "charge_items[0].quantity", "wrong_type") in fields
    assert (4, None, "wrong_type") in fields
    nothing_stored()


def test_unknown_patient_fields_are_400(chain, api):
    response = api(body([visit(1, patient={"resident_id": make_resident_id(), "name": "李四", "blood_type": "A"})]))
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"row": 0, "field": "patient.blood_type", "code": "unknown_field", "message": response.json()["errors"][0]["message"]}
    ]
    nothing_stored()


def test_missing_required_fields_are_400(chain, api):
    response = api(json.dumps({"visits": [{"external_id": "V1"}]}))
    assert response.status_code == 400
    fields = {(e["row"], e["field"]) for e in response.json()["errors"]}
    assert {(0, "started_at"), (0, "patient")} <= fields
    nothing_stored()


def test_unknown_institution_is_400(chain, login):
    client = login(chain["staff"]["consortium_admin"])
    response = client.post(URL, data=body([visit(1)], institution="NOPE"), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "institution"
    nothing_stored()


def test_a_member_system_cannot_upload_for_another_institution(chain, api):
    response = api(body([visit(1)], institution="CITY"))
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "institution"
    nothing_stored()


def test_a_clinic_clerk_uploads_for_the_own_clinic_but_not_for_another(chain, login):
    client = login(chain["staff"]["clerk"])
    assert client.post(URL, data=body([visit(1)]), content_type="application/json").status_code == 202
    response = client.post(URL, data=body([visit(2)], batch_id="B2", institution="CITY"), content_type="application/json")
    assert response.status_code == 403
    assert InboundBatch.objects.count() == 1


def test_anonymous_upload_is_refused(client, chain):
    assert client.post(URL, data=body([visit(1)]), content_type="application/json").status_code in (401, 403)


def test_an_oversized_body_is_413_with_the_limit(chain, api, settings):
    settings.SYNC_MAX_BATCH_BYTES = 2000
    response = api(body([visit(n) for n in range(10)]))
    assert response.status_code == 413
    assert response.json()["limit_bytes"] == 2000 and "2000" in response.json()["detail"]
    nothing_stored()
    assert not list((settings.VAR_DIR / "sync" / "inbound").glob("upload-*"))


def test_the_streaming_reader_agrees_with_json_loads_at_any_chunk_size():
    document = {"batch_id": "B", "all_or_nothing": False, "visits": [visit(n) for n in range(20)], "institution": "TOWN"}
    raw = json.dumps(document, ensure_ascii=False, indent=1).encode()
    for chunk_size in (1, 7, 64, 1 << 16):
        events = list(ingest.iter_body(io.BytesIO(raw), chunk_size=chunk_size))
        visits = [value for kind, _i, value in events if kind == "visit"]
        header = {key: value for kind, key, value in events if kind == "field"}
        assert visits == document["visits"]
        assert header == {"batch_id": "B", "all_or_nothing": False, "institution": "TOWN"}


def test_large_batches_land_in_chunks(chain, api, settings):
    settings.SYNC_INGEST_CHUNK = 7
    batch = land(api(body([visit(n) for n in range(30)])))
    assert batch.rows_landed == 30 and Encounter.objects.count() == 30


def test_matching_by_insurance_number_and_merged_patients(chain, api):
    insured = PatientFactory(home_institution=chain["township"], insurance_number="YB-0001")
    batch = land(api(body([visit(1, patient={"insurance_number": "YB-0001"})])))
    assert batch.rows_landed == 1
    assert Encounter.objects.get(external_id="V00001").patient == insured


def test_status_of_another_institutions_batch_is_404(chain, api, login):
    response = api(body([visit(1)]))
    outsider = login(chain["staff"]["outsider"])
    assert outsider.get(response.json()["status_url"]).status_code == 404


def test_existing_encounter_external_ids_count_as_already_present(chain, api):
    patient = PatientFactory(home_institution=chain["township"])
    EncounterFactory(patient=patient, institution=chain["township"], external_id="V00001")
    batch = land(api(body([visit(1), visit(2)])))
    assert (batch.rows_landed, batch.rows_already_present) == (1, 1)


def test_batch_status_page_shows_row_errors(chain, api, login):
    batch = land(api(body([visit(1), visit(2, diagnoses=[{"code": "bad"}])])))
    client = login(chain["staff"]["clerk"])
    page = client.get(reverse("sync-batch-detail", args=[batch.pk]))
    assert page.status_code == 200
    assert "diagnoses[0].code" in page.content.decode()


def test_patients_are_matched_through_the_master_patient_index(chain, api):
    import datetime

    from records.models import MatchReview

    rid = make_resident_id(birth_date=datetime.date(1950, 3, 1), sex="M")
    born = datetime.date(int(rid[6:10]), int(rid[10:12]), int(rid[12:14]))
    known = PatientFactory(
        home_institution=chain["village"], resident_id="", name="赵六", name_pinyin="zhao liu", sex="M", birth_date=born
    )
    batch = land(api(body([visit(1, patient={"resident_id": rid, "name": "赵六"})])))
    assert batch.rows_landed == 1
    encounter = Encounter.objects.get(external_id="V00001")
    linked = encounter.patient == known
    queued = MatchReview.objects.filter(candidate=known, patient=encounter.patient).exists()
    assert linked or queued


def fhir_bundle(rid: str, bundle_type="transaction", **overrides) -> dict:
    from records import fhir_vocabulary as fv

    entries = [
        {
            "fullUrl": "urn:uuid:p1",
            "resource": {
                "resourceType": "Patient",
                "identifier": [{"system": fv.RESIDENT_ID_SYSTEM, "value": rid}],
                "name": [{"text": "钱七"}],
                "gender": "male" if int(rid[16]) % 2 else "female",
            },
        },
        {
            "fullUrl": "urn:uuid:e1",
            "resource": {
                "resourceType": "Encounter",
                "identifier": [{"value": "F0001"}],
                "class": {"code": "AMB"},
                "period": {"start": "2026-11-20T09:30:00+08:00", "end": "2026-11-20T09:45:00+08:00"},
                "subject": {"reference": "urn:uuid:p1"},
                "reasonCode": [{"text": "发热"}],
            },
        },
        {
            "resource": {
                "resourceType": "Condition",
                "code": {"coding": [{"system": fv.ICD10_SYSTEM, "code": "J06.9", "display": "急性上呼吸道感染"}]},
                "encounter": {"reference": "urn:uuid:e1"},
            }
        },
        {
            "resource": {
                "resourceType": "ChargeItem",
                "code": {"coding": [{"code": "XJ01", "display": "阿莫西林胶囊"}]},
                "quantity": {"value": 2},
                "priceOverride": {"value": 25, "currency": "CNY"},
                "context": {"reference": "urn:uuid:e1"},
                "extension": [
                    {"url": fv.EXT_UNIT_PRICE, "valueMoney": {"value": 12.5, "currency": "CNY"}},
                    {"url": fv.EXT_CATALOGUE_CLASS, "valueCode": "A"},
                    {"url": fv.EXT_CATEGORY, "valueCode": "drug"},
                ],
            }
        },
    ]
    return {"resourceType": "Bundle", "type": bundle_type, "identifier": {"value": "FHIR-B1"}, "entry": entries, **overrides}


def test_a_fhir_transaction_bundle_lands_all_or_nothing(chain, api):
    response = api(json.dumps(fhir_bundle(make_resident_id()), ensure_ascii=False))
    assert response.status_code == 202, response.json()
    assert response.json()["batch_id"] == "FHIR-B1" and response.json()["all_or_nothing"] is True
    batch = land(response)
    assert batch.status == InboundBatchStatus.LANDED and batch.rows_landed == 1
    encounter = Encounter.objects.get(external_id="F0001")
    assert encounter.chief_complaint == "发热" and encounter.patient.name == "钱七"
    assert list(encounter.diagnoses.values_list("code", "is_primary")) == [("J06.9", True)]
    assert str(encounter.charge_items.get().amount) == "25.00"


def test_a_bad_fhir_bundle_is_400_naming_entry_and_path(chain, api):
    bundle = fhir_bundle(make_resident_id(), bundle_type="collection")
    bundle["entry"][3]["resource"]["context"]["reference"] = "urn:uuid:nowhere"
    bundle["entry"][2]["resource"]["code"] = {"coding": []}
    response = api(json.dumps(bundle, ensure_ascii=False))
    assert response.status_code == 400
    found = {(e.get("entry"), e["field"]) for e in response.json()["errors"]}
    assert (None, "type") in found
    assert (3, "entry[3].resource.context.reference") in found
    assert (2, "entry[2].resource.code.coding") in found
    nothing_stored()


def test_content_errors_of_a_fhir_batch_name_the_entry(chain, api):
    bundle = fhir_bundle("110101199003071234", bundle_type="batch")
    batch = land(api(json.dumps(bundle, ensure_ascii=False)))
    assert batch.rows_landed == 0 and batch.rows_failed == 1
    assert batch.row_errors[0]["field"] == "patient.resident_id"


def test_a_batch_row_takes_only_catalogue_codes_through_the_one_icd10_rule(chain, api):
    """A code of the right shape that the catalogue lacks is a per-row error naming the row and the field."""
    diagnoses = [{"code": "J06.9", "primary": True}, {"code": "Z99.99"}]
    batch = land(api(body([visit(1), visit(2, diagnoses=diagnoses)])))
    assert (batch.rows_landed, batch.rows_failed) == (1, 1)
    [error] = batch.row_errors
    assert (error["row"], error["field"], error["code"]) == (1, "diagnoses[1].code", "unknown_code")
    assert "Z99.99" in error["message"] and "ICD-10" in error["message"]
    assert list(Encounter.objects.values_list("external_id", flat=True)) == ["V00001"]


def test_a_lower_case_catalogue_code_in_a_batch_is_stored_as_the_catalogue_writes_it(chain, api):
    batch = land(api(body([visit(1, diagnoses=[{"code": " e11.9 ", "primary": True}])])))
    assert batch.rows_landed == 1
    assert list(Diagnosis.objects.values_list("code", flat=True)) == ["E11.9"]


def test_a_fhir_batch_takes_only_catalogue_codes_and_names_the_entry(chain, api):
    bundle = fhir_bundle(make_resident_id(), bundle_type="batch")
    bundle["entry"][2]["resource"]["code"]["coding"][0]["code"] = "Z99.99"
    batch = land(api(json.dumps(bundle, ensure_ascii=False)))
    assert batch.rows_landed == 0 and batch.rows_failed == 1
    [error] = batch.row_errors
    assert (error["entry"], error["field"], error["code"]) == (1, "diagnoses[0].code", "unknown_code")
    assert "Z99.99" in error["message"]
    assert not Encounter.objects.exists()


def test_row_errors_of_a_chunked_batch_come_in_the_bodys_order_in_the_landings_language(chain, api, settings):
    """Rows are parsed and checked in a reader thread one chunk ahead: order and language are the landing's."""
    from django.utils import translation

    settings.SYNC_INGEST_CHUNK = 3
    visits = [visit(n) for n in range(12)]
    for n in (1, 5, 6, 10):
        visits[n]["diagnoses"] = [{"code": "cough"}]
    response = api(body(visits))
    assert response.status_code == 202
    with translation.override("en"):
        batch = batches.land_batch(batch_id=response.json()["id"])
    assert (batch.status, batch.rows_landed, batch.rows_failed) == (InboundBatchStatus.LANDED, 8, 4)
    assert [error["row"] for error in batch.row_errors] == [1, 5, 6, 10]
    assert all("is not a code in the ICD-10 list" in error["message"] for error in batch.row_errors)
    assert Encounter.objects.count() == 8 and OutboxEvent.objects.count() == 8


def test_the_reader_checks_the_next_chunk_only_once_the_landing_has_written_its_own(chain, api, settings, monkeypatch):
    """Not while the chunk's patients are matched: two threads of Python then only take turns on the GIL."""
    import time

    settings.SYNC_INGEST_CHUNK = 2
    response = api(body([visit(n) for n in range(6)]))
    order = []
    clean_visit, match = ingest.clean_visit, batches._match_patients

    def checked(row, *args, **kwargs):
        order.append(("checked", row))
        return clean_visit(row, *args, **kwargs)

    def matched(institution, visits, **kwargs):
        time.sleep(0.2)  # a slow matching: time enough for a reader running at will to check the next chunk
        found = match(institution, visits, **kwargs)
        order.append(("matched", [visit.row for visit in visits]))
        return found

    monkeypatch.setattr(ingest, "clean_visit", checked)
    monkeypatch.setattr(batches, "_match_patients", matched)
    batch = batches.land_batch(batch_id=response.json()["id"])
    assert batch.rows_landed == 6
    assert order == [
        ("checked", 0), ("checked", 1), ("matched", [0, 1]),
        ("checked", 2), ("checked", 3), ("matched", [2, 3]),
        ("checked", 4), ("checked", 5), ("matched", [4, 5]),
    ]  # fmt: skip


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's parallel query")
def test_a_chunk_lands_without_parallel_workers_and_leaves_the_setting_as_it_was(chain, api, monkeypatch):
    def setting() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW max_parallel_workers_per_gather")
            return cursor.fetchone()[0]

    before, seen = setting(), []
    match = batches._match_patients

    def matched(*args, **kwargs):
        seen.append(setting())
        return match(*args, **kwargs)

    monkeypatch.setattr(batches, "_match_patients", matched)
    batch = land(api(body([visit(n) for n in range(3)])))
    assert batch.rows_landed == 3
    assert seen == ["0"] and setting() == before != "0"


def test_a_stored_body_broken_after_some_chunks_lands_those_and_fails_with_the_reason(chain, api, settings):
    import gc

    from consortium import storage

    settings.SYNC_INGEST_CHUNK = 2
    response = api(body([visit(n) for n in range(6)]))
    stored = InboundBatch.objects.get(pk=response.json()["id"])
    good = body([visit(n) for n in range(6)])
    broken = good[: good.index('"V00005"')] + "@"  # the sixth visit is cut off by garbage
    storage.delete(stored.body_path)
    assert storage.save_stream(stored.body_path, io.BytesIO(broken.encode())) == stored.body_path
    batch = batches.land_batch(batch_id=stored.pk)
    assert batch.status == InboundBatchStatus.FAILED
    assert batch.failure_reason
    assert batch.rows_landed == 4 and Encounter.objects.count() == 4  # the two chunks before the break
    assert gc.isenabled()


def test_the_same_money_in_many_rows_is_checked_every_time(chain, api):
    """Quantity and price pairs are remembered between rows: a bad pair is refused in each row that sends it."""
    bad = {"item_code": "X", "name": "x", "category": "drug", "catalogue_class": "A", "quantity": "0.001", "unit_price": "1"}
    good = {"item_code": "Y", "name": "y", "category": "drug", "catalogue_class": "A", "quantity": 3, "unit_price": "0.35"}
    visits = [visit(n, charge_items=[good, bad] if n % 2 else [good]) for n in range(6)]
    batch = land(api(body(visits)))
    assert (batch.rows_landed, batch.rows_failed) == (3, 3)
    assert {(error["row"], error["field"]) for error in batch.row_errors} == {(n, "charge_items[1].quantity") for n in (1, 3, 5)}
    assert set(ChargeItem.objects.values_list("amount", flat=True)) == {Decimal("1.05")}


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        (lambda v: v["charge_items"][0].update(quantity=True), "charge_items[0].quantity", "wrong_type"),
        (lambda v: v["patient"].update(name=None), "patient.name", "wrong_type"),
        (lambda v: v["diagnoses"][0].update(extra=1), "diagnoses[0].extra", "unknown_field"),
        (lambda v: v["charge_items"][1].pop("name"), "charge_items[1].name", "required"),
        (lambda v: v.update(ended_at=None), None, None),  # null is allowed there
    ],
)
def test_the_fast_shape_check_agrees_with_the_named_checks(change, field, code):
    data = visit(1)
    change(data)
    errors = ingest.check_shape(0, data)
    assert [(error["field"], error["code"]) for error in errors] == ([(field, code)] if field else [])
