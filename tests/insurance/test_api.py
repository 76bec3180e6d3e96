"""The insurance-office API: scoping by region and scheme, revocable tokens, idempotent POSTs, uploads."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from consortium.models import ApiClient, ApiClientKind, AuditEvent, InstitutionLevel
from consortium.permissions import SYSTEM
from insurance import services
from insurance.models import Claim, ClaimStatus, Discrepancy, OfficeScheme, PeriodClose, Scheme, SettlementFile
from tests.factories import InstitutionFactory, InsuranceOfficeFactory, PatientFactory
from tests.problems import fields, problem

from .test_reconciliation import HEADER, crafted_file

CLAIMS = reverse("api-insurance-claim-list")
ADJUDICATE = reverse("api-insurance-adjudications")
FILES = reverse("api-insurance-settlement-files")
RUNS = reverse("api-insurance-reconciliations")


def post(api, url, data, key, fmt="json"):
    return api.post(url, data, format=fmt, HTTP_IDEMPOTENCY_KEY=key)


@pytest.fixture
def submitted(chain, visit):
    claims = [services.create_claim(encounter=visit(), actor=SYSTEM) for _ in range(3)]
    services.submit_claims(institution=chain["township"], period="2026-03", actor=SYSTEM)
    return claims


def test_list_filter_and_fetch_claims_and_batches(office_api, submitted):
    response = office_api.get(CLAIMS, {"status": "submitted", "institution": "TOWN", "period": "2026-03"})
    assert response.status_code == 200 and response.data["count"] == 3
    detail = office_api.get(reverse("api-insurance-claim-detail", args=[submitted[0].number])).data
    assert detail["reimbursed"] == "340.00" and [s["key"] for s in detail["steps"]][-1] == "patient_pays"
    assert detail["lines"][0]["catalogue_class"] == "A"
    batches = office_api.get(reverse("api-insurance-batch-list")).data
    assert batches["count"] == 1
    batch = office_api.get(reverse("api-insurance-batch-detail", args=[batches["results"][0]["number"]])).data
    assert sorted(batch["claims"]) == sorted(c.number for c in submitted)


def test_an_office_never_sees_another_regions_claims(chain, visit, scheme, policy, enrol, office_api):
    far = InstitutionFactory(code="FAR", region_code="360722", level=InstitutionLevel.TOWNSHIP_HEALTH_CENTRE)
    patient = PatientFactory(home_institution=far)
    enrol(patient)
    far_claim = services.create_claim(encounter=visit(patient=patient), actor=SYSTEM)
    near_claim = services.create_claim(encounter=visit(), actor=SYSTEM)
    numbers = [c["number"] for c in office_api.get(CLAIMS).data["results"]]
    assert numbers == [near_claim.number]
    assert office_api.get(reverse("api-insurance-claim-detail", args=[far_claim.number])).status_code == 404
    services.submit_claims(institution=far, period="2026-03", actor=SYSTEM)
    response = post(office_api, ADJUDICATE, {"results": [{"claim_number": far_claim.number, "outcome": "approved"}]}, "k-far")
    assert fields(response, 422, "adjudication_refused") == {"results.0.claim_number"}
    far_claim.refresh_from_db()
    assert far_claim.status == ClaimStatus.SUBMITTED
    # the other region's own office sees it
    other = InsuranceOfficeFactory(region_code="360700")
    OfficeScheme.objects.create(office=other, scheme=scheme)
    client = ApiClient(name="other", kind=ApiClientKind.INSURANCE_OFFICE, insurance_office=other)
    token = client.issue_token()
    client.save()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert [c["number"] for c in api.get(CLAIMS).data["results"]] == [far_claim.number]


def test_an_office_sees_only_its_schemes(chain, visit, office_api, office_token):
    services.create_claim(encounter=visit(), actor=SYSTEM)
    OfficeScheme.objects.all().delete()
    OfficeScheme.objects.create(
        office=chain["office"], scheme=Scheme.objects.get_or_create(code="UEBMI", defaults={"name": "职工"})[0]
    )
    assert office_api.get(CLAIMS).data["count"] == 0


def test_revoked_token_is_refused(office_api, office_token):
    assert office_api.get(CLAIMS).status_code == 200
    client, _token = office_token
    client.revoked_at = timezone.now()
    client.save()
    assert office_api.get(CLAIMS).status_code == 401
    assert APIClient().get(CLAIMS).status_code in (401, 403)


def test_bulk_adjudication_and_idempotency(office_api, submitted):
    body = {
        "results": [
            {"claim_number": submitted[0].number, "outcome": "approved"},
            {
                "claim_number": submitted[1].number,
                "outcome": "partly_approved",
                "approved_amount": "200.00",
                "reason_codes": ["R01"],
            },
            {"claim_number": submitted[2].number, "outcome": "rejected", "reason_codes": ["R99"]},
        ]
    }
    first = post(office_api, ADJUDICATE, body, "adj-1")
    assert first.status_code == 200, first.data
    assert [c["status"] for c in first.data] == ["approved", "partly_approved", "rejected"]
    audits = AuditEvent.objects.filter(action="insurance.claim_adjudicated").count()
    again = post(office_api, ADJUDICATE, body, "adj-1")
    assert again.status_code == 200 and again.data == first.data and again["Idempotent-Replayed"] == "true"
    assert AuditEvent.objects.filter(action="insurance.claim_adjudicated").count() == audits == 3
    different = post(office_api, ADJUDICATE, {"results": body["results"][:1]}, "adj-1")
    assert fields(different, 422, "idempotency_key_reused") == {"Idempotency-Key"}
    assert fields(office_api.post(ADJUDICATE, body, format="json"), 400, "idempotency_key_missing") == {"Idempotency-Key"}


def test_adjudication_bad_input_has_field_messages(office_api, submitted):
    response = post(office_api, ADJUDICATE, {"results": [{"claim_number": submitted[0].number, "outcome": "maybe"}]}, "bad-1")
    assert fields(response, 400, "invalid") == {"results.0.outcome"}
    assert problem(response, 400)["errors"][0]["code"] == "invalid_choice"
    response = post(office_api, ADJUDICATE, {"results": []}, "bad-2")
    assert fields(response, 400) == {"results"}
    response = post(
        office_api, ADJUDICATE, {"results": [{"claim_number": submitted[0].number, "outcome": "partly_approved"}]}, "bad-3"
    )
    assert fields(response, 422, "adjudication_refused") == {"results.0.approved_amount", "results.0.reason_codes"}
    assert not Claim.objects.exclude(status=ClaimStatus.SUBMITTED).exists()


def _approve_all(office_api, claims, key="approve-all"):
    body = {"results": [{"claim_number": c.number, "outcome": "approved"} for c in claims[:6]]}
    body["results"].append({"claim_number": claims[6].number, "outcome": "rejected", "reason_codes": ["R10"]})
    assert post(office_api, ADJUDICATE, body, key).status_code == 200


def test_upload_reconcile_export_and_close_through_the_api(chain, visit, office_api):
    claims = [services.create_claim(encounter=visit(), actor=SYSTEM) for _ in range(7)]
    services.submit_claims(institution=chain["township"], period="2026-03", actor=SYSTEM)
    _approve_all(office_api, claims)
    upload = SimpleUploadedFile("settlement.csv", crafted_file(claims).encode("gb18030"), content_type="text/csv")
    response = post(office_api, FILES, {"file": upload, "period": "2026-03", "encoding": "gb18030"}, "file-1", fmt="multipart")
    assert response.status_code == 201, response.data
    file_id = response.data["id"]
    upload.seek(0)
    replay = post(office_api, FILES, {"file": upload, "period": "2026-03", "encoding": "gb18030"}, "file-1", fmt="multipart")
    assert replay.status_code == 201 and replay.data["id"] == file_id and SettlementFile.objects.count() == 1

    run = post(office_api, RUNS, {"settlement_file": file_id, "institution": "TOWN"}, "run-1")
    assert run.status_code == 201, run.data
    totals = {t["kind"]: t for t in run.data["totals"]}
    assert set(totals) == {"matched", "amount_mismatch", "missing_at_insurer", "unknown_claim", "duplicate_payment", "rejected"}
    assert totals["missing_at_insurer"]["count"] == 2 and totals["amount_mismatch"]["difference"] == "-40.00"
    run_id = run.data["id"]
    (totals_row,) = office_api.get(reverse("api-insurance-reconciliation-totals"), {"period": "2026-03"}).data
    assert (totals_row["institution"], totals_row["open"], totals_row["difference"]) == ("TOWN", 6, "-632.00")
    assert office_api.get(reverse("api-insurance-reconciliation", args=[run_id])).status_code == 200
    (listed,) = office_api.get(reverse("api-insurance-reconciliations")).data["results"]
    assert listed["id"] == run_id and listed["totals"] == run.data["totals"]
    listing = office_api.get(reverse("api-insurance-discrepancies", args=[run_id]), {"status": "open"}).data
    assert listing["count"] == 6
    export = office_api.get(reverse("api-insurance-discrepancies-csv", args=[run_id]))
    text = b"".join(export.streaming_content).decode("utf-8-sig")
    assert text.splitlines()[0].startswith("kind,claim_number,row_number") and "duplicate_payment" in text

    close = reverse("api-insurance-period-close")
    refused = post(office_api, close, {"institution": "TOWN", "period": "2026-03"}, "close-1")
    body = problem(refused, 409, "discrepancies_open")
    assert body["open_discrepancies"] == 6 and {e["field"] for e in body["errors"]} == {"period"}
    for item in listing["results"]:
        url = reverse("api-insurance-discrepancy-update", args=[item["id"]])
        assert fields(post(office_api, url, {"status": "resolved", "note": ""}, f"d-{item['id']}-a"), 400, "required") == {"note"}
        assert post(office_api, url, {"status": "resolved", "note": "已核实"}, f"d-{item['id']}").status_code == 200
    assert post(office_api, close, {"institution": "TOWN", "period": "2026-03"}, "close-2").status_code == 201
    assert PeriodClose.objects.filter(institution=chain["township"], period="2026-03").exists()
    some = Discrepancy.objects.first()
    url = reverse("api-insurance-discrepancy-update", args=[some.pk])
    problem(post(office_api, url, {"status": "open", "note": ""}, "after-close"), 409, "period_closed")


def test_upload_errors_are_answered_with_row_field_and_reason(office_api):
    bad = SimpleUploadedFile("s.csv", (HEADER + "X-1,TOWN,12.345,paid,,\n").encode(), content_type="text/csv")
    response = post(office_api, FILES, {"file": bad, "period": "2026-03"}, "up-bad", fmt="multipart")
    body = problem(response, 422, "settlement_file_refused")
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(2, "paid_amount")] and body["more_errors"] == 0
    assert not SettlementFile.objects.exists()
    response = post(office_api, FILES, {"period": "2026-13"}, "up-bad-2", fmt="multipart")
    assert {"file", "period"} <= fields(response, 400)


def test_reconciliation_needs_own_file_and_region(chain, office_api):
    response = post(office_api, RUNS, {"settlement_file": 999, "institution": "OUT"}, "run-bad")
    assert fields(response, 400, "not_found") == {"settlement_file", "institution"}


def test_clinic_staff_cannot_upload(chain, login):
    client = login(chain["staff"]["clerk"])
    upload = SimpleUploadedFile("s.csv", HEADER.encode(), content_type="text/csv")
    response = client.post(FILES, {"file": upload, "period": "2026-03"}, HTTP_IDEMPOTENCY_KEY="clerk-1")
    problem(response, 403, "permission_denied")


def test_schema_documents_the_insurance_api(office_api):
    response = office_api.get(reverse("api-schema"), {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/insurance/adjudications/" in paths


def test_more_bad_input_is_answered_field_by_field(chain, office_api):
    response = post(office_api, RUNS, {"settlement_file": "abc", "institution": ""}, "bad-run")
    assert {"settlement_file", "institution"} <= fields(response, 400)
    close = reverse("api-insurance-period-close")
    response = post(office_api, close, {"institution": "TOWN", "period": "2026-13"}, "bad-close")
    assert fields(response, 400) == {"period"}
    response = post(office_api, close, {"institution": "OUT", "period": "2026-03"}, "bad-close-2")
    assert fields(response, 400, "not_found") == {"institution"}
    response = post(office_api, reverse("api-insurance-discrepancy-update", args=[1]), {"status": "bogus"}, "bad-d")
    problem(response, 404, "not_found")
    assert fields(post(office_api, ADJUDICATE, {"results": "x"}, "bad-shape"), 400) == {"results"}
