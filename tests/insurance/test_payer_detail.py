"""Payer detail: per-line adjudication, reason codes, appeals and reopens, adjudication content,
updated_since, eligibility, claims from the HIS, FHIR ClaimResponse / PaymentReconciliation."""

import datetime
from decimal import Decimal as D

import pytest
from django.urls import reverse
from django.utils import timezone
from fhir.resources.R4B.claimresponse import ClaimResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from consortium.errors import NotPermitted
from consortium.models import ApiClient, ApiClientKind, AuditEvent, OutboxEvent
from consortium.permissions import SYSTEM
from insurance import services
from insurance.allocation import allocate
from insurance.models import (
    Accumulator,
    ClaimAppeal,
    ClaimLine,
    ClaimStatus,
    OfficeScheme,
    ReasonCode,
    Scheme,
)
from tests.factories import DiagnosisFactory, InsuranceOfficeFactory
from tests.problems import fields, problem

from .conftest import YEAR

CLAIMS = reverse("api-insurance-claim-list")
ADJUDICATE = reverse("api-insurance-adjudications")
CODES = reverse("api-insurance-reason-codes")
ELIGIBILITY = reverse("api-insurance-eligibility")
SUBMIT = reverse("api-insurance-his-claims")


def post(api, url, data, key):
    return api.post(url, data, format="json", HTTP_IDEMPOTENCY_KEY=key)


def detail(number):
    return reverse("api-insurance-claim-detail", args=[number])


@pytest.fixture
def two_line_claim(chain, visit):
    """A submitted township claim of two lines: 300 class A and 200 class B (eligible 480, reimbursed 323.00)."""
    claim = services.create_claim(encounter=visit(items=(("A", "300.00"), ("B", "200.00"))), actor=SYSTEM)
    services.submit_claims(institution=chain["township"], period="2026-03", actor=SYSTEM)
    claim.refresh_from_db()
    return claim


def his_api(institution):
    client = ApiClient(name="HIS", kind=ApiClientKind.MEMBER_SYSTEM, institution=institution)
    token = client.issue_token()
    client.save()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


# --- allocation -----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=10**11), st.lists(st.integers(min_value=-1000, max_value=10**8), max_size=30))
def test_allocation_sums_to_the_fen_exactly(total_fen, weight_fen):
    total = D(total_fen) / 100
    weights = [D(w) / 100 for w in weight_fen]
    shares = allocate(total, weights)
    assert len(shares) == len(weights)
    if weights:
        assert sum(shares, D("0")) == total
        assert all(share >= 0 and share == share.quantize(D("0.01")) for share in shares)
        assert all(share == 0 for share, weight in zip(shares, weights, strict=True) if weight <= 0) or all(
            w <= 0 for w in weights
        )


# --- per-line adjudication ------------------------------------------------------------------------


def test_claim_lines_carry_their_share_of_the_claimed_payment(two_line_claim, office_api):
    lines = office_api.get(detail(two_line_claim.number)).data["lines"]
    assert [(line["sequence"], line["payable"]) for line in lines] == [(1, "201.88"), (2, "121.12")]
    assert two_line_claim.reimbursed == D("323.00")


def test_per_line_adjudication_sums_the_claim_and_derives_the_outcome(two_line_claim, office_api):
    body = {
        "results": [
            {
                "claim_number": two_line_claim.number,
                "lines": [{"sequence": 2, "approved_amount": "100.00", "reason_code": "R02"}],
            }
        ]
    }
    response = post(office_api, ADJUDICATE, body, "line-1")
    assert response.status_code == 200, response.content
    assert response.data[0]["status"] == "partly_approved" and response.data[0]["approved_amount"] == "301.88"
    assert response.data[0]["reason_codes"] == ["R02"]
    lines = office_api.get(detail(two_line_claim.number)).data["lines"]
    assert [(line["approved_amount"], line["reason_code"]) for line in lines] == [("201.88", ""), ("100.00", "R02")]
    accumulator = Accumulator.objects.get(patient=two_line_claim.patient)
    assert accumulator.reimbursed == D("301.88")


def test_claim_level_partial_approval_is_spread_over_the_lines(two_line_claim):
    services.adjudicate_claims(
        claims_queryset=type(two_line_claim).objects.all(),
        decisions=[services.Adjudication(two_line_claim.number, ClaimStatus.PARTLY_APPROVED, D("100.01"), ["R09"])],
        actor=SYSTEM,
    )
    lines = list(ClaimLine.objects.filter(claim=two_line_claim).order_by("sequence"))
    assert sum(line.approved_amount for line in lines) == D("100.01")
    assert {line.reason_code for line in lines} == {"R09"}


@pytest.mark.parametrize(
    ("line", "field", "code"),
    [
        ({"sequence": 9, "approved_amount": "1.00", "reason_code": "R01"}, "results.0.lines.0.sequence", "adjudication_refused"),
        ({"sequence": 1, "approved_amount": "201.89"}, "results.0.lines.0.approved_amount", "adjudication_refused"),
        ({"sequence": 1, "approved_amount": "10.00"}, "results.0.lines.0.reason_code", "adjudication_refused"),
        (
            {"sequence": 1, "approved_amount": "10.00", "reason_code": "NOPE"},
            "results.0.lines.0.reason_code",
            "unknown_reason_code",
        ),
    ],
)
def test_bad_line_decisions_are_refused_and_nothing_is_written(two_line_claim, office_api, line, field, code):
    body = {"results": [{"claim_number": two_line_claim.number, "lines": [line]}]}
    response = post(office_api, ADJUDICATE, body, f"bad-{field}-{code}")
    body = problem(response, 422, "adjudication_refused")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, code)]
    two_line_claim.refresh_from_db()
    assert two_line_claim.status == ClaimStatus.SUBMITTED and two_line_claim.approved_amount is None
    assert not ClaimLine.objects.filter(claim=two_line_claim, approved_amount__isnull=False).exists()


def test_negative_line_amount_is_a_field_error(two_line_claim, office_api):
    body = {"results": [{"claim_number": two_line_claim.number, "lines": [{"sequence": 1, "approved_amount": "-1.00"}]}]}
    assert fields(post(office_api, ADJUDICATE, body, "neg"), 400) == {"results.0.lines.0.approved_amount"}


def test_lines_and_an_outcome_that_disagree_are_refused(two_line_claim, office_api):
    body = {
        "results": [
            {
                "claim_number": two_line_claim.number,
                "outcome": "approved",
                "lines": [{"sequence": 1, "approved_amount": "0", "reason_code": "R01"}],
            }
        ]
    }
    assert fields(post(office_api, ADJUDICATE, body, "disagree"), 422, "adjudication_refused") == {"results.0.outcome"}


def test_an_outcome_or_lines_are_required(two_line_claim, office_api):
    body = {"results": [{"claim_number": two_line_claim.number}]}
    assert fields(post(office_api, ADJUDICATE, body, "nothing"), 422, "adjudication_refused") == {"results.0.outcome"}


def test_unknown_claim_level_reason_code_is_named(two_line_claim, office_api):
    body = {"results": [{"claim_number": two_line_claim.number, "outcome": "rejected", "reason_codes": ["R01", "free text"]}]}
    response = post(office_api, ADJUDICATE, body, "free")
    errors = problem(response, 422, "adjudication_refused")["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("results.0.reason_codes.1", "unknown_reason_code")]


# --- reason codes ---------------------------------------------------------------------------------


def test_reason_codes_are_listed_in_the_request_language(office_api):
    zh = office_api.get(CODES, HTTP_ACCEPT_LANGUAGE="zh-hans").data
    en = office_api.get(CODES, HTTP_ACCEPT_LANGUAGE="en").data
    by_code = {row["code"]: row for row in zh["results"]}
    assert {"R01", "R07", "R99"} <= set(by_code)
    assert by_code["R07"]["text"] == "未按规定办理转诊" and by_code["R07"]["office"] is None
    assert {row["code"]: row["text"] for row in en["results"]}["R07"].startswith("Visit above the home level")


def test_an_office_extends_the_value_set_for_itself_only(chain, two_line_claim, office_api, scheme):
    response = post(office_api, CODES, {"code": "HB-01", "text_zh": "本地规则", "text_en": "Local rule"}, "code-1")
    assert response.status_code == 201 and response.data["office"] == chain["office"].code
    assert fields(
        post(office_api, CODES, {"code": "R01", "text_zh": "x", "text_en": "x"}, "code-2"), 409, "reason_code_exists"
    ) == {"code"}
    assert fields(post(office_api, CODES, {"code": "bad code", "text_zh": "x", "text_en": "x"}, "code-3"), 400) == {"code"}
    assert ReasonCode.objects.filter(office=chain["office"]).count() == 1
    body = {"results": [{"claim_number": two_line_claim.number, "outcome": "rejected", "reason_codes": ["HB-01"]}]}
    # another office (same region and scheme) cannot use it
    other = InsuranceOfficeFactory(region_code="420500")
    OfficeScheme.objects.create(office=other, scheme=scheme)
    client = ApiClient(name="other", kind=ApiClientKind.INSURANCE_OFFICE, insurance_office=other)
    token = client.issue_token()
    client.save()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert problem(post(api, ADJUDICATE, body, "other-1"), 422)["errors"][0]["code"] == "unknown_reason_code"
    assert post(office_api, ADJUDICATE, body, "own-1").status_code == 200


# --- adjudication content -------------------------------------------------------------------------


def test_claim_detail_carries_what_adjudication_needs(chain, visit, office_api):
    encounter = visit()
    DiagnosisFactory(encounter=encounter, code="I10", description="原发性高血压", is_primary=True)
    claim = services.create_claim(encounter=encounter, actor=SYSTEM)
    data = office_api.get(detail(claim.number)).data
    assert data["service"]["kind"] == encounter.kind
    assert data["service"]["start"] == timezone.localtime(encounter.started_at).isoformat()
    assert data["service"]["diagnoses"] == [{"code": "I10", "description": "原发性高血压", "is_primary": True}]
    assert data["service"]["referral"] is None
    assert (data["level"], data["policy_year"], data["policy_version"]) == ("township_health_centre", YEAR, 1)
    assert data["appeals"] == []


# --- appeals and reopens --------------------------------------------------------------------------


def test_the_institution_appeals_and_the_office_decides_again(chain, adjudicated, office_api):
    rejected = adjudicated[6]
    before = Accumulator.objects.get(patient=rejected.patient)
    assert (before.reimbursed, before.deductible_paid) == (D("0.00"), D("0.00"))
    his = his_api(chain["township"])
    url = reverse("api-insurance-claim-appeal", args=[rejected.number])
    response = post(his, url, {"reason": "已补充转诊单"}, "appeal-1")
    assert response.status_code == 201, response.content
    assert (response.data["kind"], response.data["previous_status"]) == ("appeal", "rejected")
    rejected.refresh_from_db()
    assert rejected.status == ClaimStatus.APPEALED and rejected.approved_amount is None
    taken_up = Accumulator.objects.get(patient=rejected.patient)
    assert (taken_up.reimbursed, taken_up.deductible_paid) == (D("340.00"), D("100.00"))
    assert AuditEvent.objects.filter(action="insurance.claim_appealed", object_id=str(rejected.pk)).exists()
    assert OutboxEvent.objects.filter(aggregate_id=str(rejected.pk), payload__status="appealed").exists()
    # a second appeal while one is open is an illegal move
    assert problem(post(his, url, {"reason": "再次"}, "appeal-2"), 409, "illegal_transition")
    decided = post(office_api, ADJUDICATE, {"results": [{"claim_number": rejected.number, "outcome": "approved"}]}, "re-1")
    assert decided.status_code == 200 and decided.data[0]["status"] == "approved"
    appeal = ClaimAppeal.objects.get(claim=rejected)
    assert (appeal.decided_status, appeal.decided_amount) == ("approved", D("340.00"))
    after = Accumulator.objects.get(patient=rejected.patient)
    assert (after.reimbursed, after.deductible_paid) == (D("340.00"), D("100.00"))
    assert office_api.get(detail(rejected.number)).data["appeals"][0]["decided_status"] == "approved"


def test_the_office_reopens_its_own_adjudication(chain, adjudicated, office_api):
    claim = adjudicated[0]
    response = post(office_api, reverse("api-insurance-claim-appeal", args=[claim.number]), {"reason": "复核"}, "reopen-1")
    assert response.status_code == 201 and response.data["kind"] == "reopen"
    assert AuditEvent.objects.filter(action="insurance.claim_reopened", object_id=str(claim.pk)).exists()
    claim.refresh_from_db()
    assert (
        claim.status == ClaimStatus.APPEALED and not ClaimLine.objects.filter(claim=claim, approved_amount__isnull=False).exists()
    )


def test_appeal_needs_a_reason_and_a_visible_claim(chain, adjudicated, office_api):
    url = reverse("api-insurance-claim-appeal", args=[adjudicated[0].number])
    assert fields(post(office_api, url, {"reason": ""}, "r-0"), 400) == {"reason"}
    assert fields(post(office_api, url, {"reason": "   "}, "r-1"), 400) == {"reason"}
    outsider = his_api(chain["outsider"])
    assert problem(post(outsider, url, {"reason": "x"}, "r-2"), 404)
    adjudicated[0].refresh_from_db()
    assert adjudicated[0].status == ClaimStatus.APPROVED and not ClaimAppeal.objects.exists()


def test_a_clinician_cannot_appeal(chain, adjudicated):
    with pytest.raises(NotPermitted):
        services.appeal_adjudication(claim=adjudicated[0], actor=chain["staff"]["coordinator"].user, reason="x")


# --- updated_since --------------------------------------------------------------------------------


def test_updated_since_on_claims(chain, adjudicated, office_api):
    later = timezone.now() + datetime.timedelta(seconds=1)
    assert office_api.get(CLAIMS, {"updated_since": later.isoformat()}).data["count"] == 0
    earlier = (timezone.now() - datetime.timedelta(days=1)).isoformat()
    assert office_api.get(CLAIMS, {"updated_since": earlier}).data["count"] == 7
    services.appeal_adjudication(claim=adjudicated[1], actor=SYSTEM, reason="复核")
    changed = office_api.get(CLAIMS, {"updated_since": later.isoformat()}).data
    assert changed["count"] == 0 or [c["number"] for c in changed["results"]] == [adjudicated[1].number]


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-01T00:00:00",
        "yesterday",
        "２０２６-03-01T00:00:00+08:00",
        "6302-07-17T05:16:51.16+16:41",  # an offset no place has: PostgreSQL would refuse it with a 500
        "2026-13-01T00:00:00+08:00",
    ],
)
def test_updated_since_needs_an_offset(office_api, value):
    assert fields(office_api.get(CLAIMS, {"updated_since": value}), 400, "invalid_datetime") == {"updated_since"}


def test_updated_since_on_settlement_files_and_discrepancies(chain, adjudicated, office_api):
    from .test_reconciliation import crafted_file, upload

    settlement = upload(chain["office"], crafted_file(adjudicated))
    run = services.run_reconciliation(settlement_file=settlement, institution=chain["township"], actor=SYSTEM)
    files = reverse("api-insurance-settlement-files")
    before = (settlement.uploaded_at - datetime.timedelta(seconds=1)).isoformat()
    after = (timezone.now() + datetime.timedelta(seconds=1)).isoformat()
    assert office_api.get(files, {"updated_since": before}).data["count"] == 1
    assert office_api.get(files, {"updated_since": after}).data["count"] == 0
    url = reverse("api-insurance-discrepancies", args=[run.pk])
    total = office_api.get(url).data["count"]
    assert office_api.get(url, {"updated_since": before}).data["count"] == total
    assert office_api.get(url, {"updated_since": after}).data["count"] == 0
    open_one = run.discrepancies.filter(status="open").first()
    services.update_discrepancy(discrepancy=open_one, status="resolved", note="已核实", actor=SYSTEM)
    changed = office_api.get(url, {"updated_since": after}).data
    assert changed["count"] in (0, 1)  # the resolve happened in the same second at most
    assert fields(office_api.get(url, {"updated_since": "2026-03-01"}), 400, "invalid_datetime") == {"updated_since"}


def test_maximum_page_size_is_enforced(office_api):
    assert fields(office_api.get(CLAIMS, {"limit": "100000"}), 400, "out_of_range") == {"limit"}


# --- eligibility ----------------------------------------------------------------------------------


def test_eligibility_of_an_enrolled_resident(chain, adjudicated, office_api):
    number = adjudicated[0].insurance_number
    audits = AuditEvent.objects.filter(action="insurance.eligibility_checked").count()
    data = office_api.get(ELIGIBILITY, {"insurance_number": number, "year": YEAR}).data
    assert data["enrolled"] and data["scheme"] == "URRBMI" and data["policy_version"] == 1
    township = next(level for level in data["levels"] if level["level"] == "township_health_centre")
    assert (township["deductible_remaining"], township["ceiling_remaining"]) == ("0.00", "99660.00")
    county = next(level for level in data["levels"] if level["level"] == "county_hospital")
    assert county["deductible_remaining"] == "300.00"
    assert AuditEvent.objects.filter(action="insurance.eligibility_checked").count() == audits + 1
    event = AuditEvent.objects.filter(action="insurance.eligibility_checked").latest("pk")
    assert number not in str(event.detail)


def test_eligibility_is_scoped_to_the_offices_schemes(chain, adjudicated, office_api):
    number = adjudicated[0].insurance_number
    OfficeScheme.objects.filter(office=chain["office"]).update(
        scheme=Scheme.objects.get_or_create(code="UEBMI", defaults={"name": "职工"})[0]
    )
    data = office_api.get(ELIGIBILITY, {"insurance_number": number, "year": YEAR}).data
    assert data["enrolled"] is False and data["scheme"] is None and data["levels"] == []
    unknown = office_api.get(ELIGIBILITY, {"insurance_number": "NOSUCH1", "year": YEAR}).data
    assert {k: v for k, v in data.items() if k not in ("insurance_number", "checked_at")} == {
        k: v for k, v in unknown.items() if k not in ("insurance_number", "checked_at")
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "insurance_number"),
        ({"insurance_number": "a b"}, "insurance_number"),
        ({"insurance_number": "X1", "year": "1999"}, "year"),
    ],
)
def test_eligibility_bad_input(office_api, params, field):
    assert fields(office_api.get(ELIGIBILITY, params), 400) == {field}


def test_eligibility_is_for_insurer_tokens(chain):
    assert problem(his_api(chain["township"]).get(ELIGIBILITY, {"insurance_number": "X1"}), 403)


# --- claims from the HIS --------------------------------------------------------------------------


def _his_visit(visit, chain, external_id):
    encounter = visit()
    encounter.external_id = external_id
    encounter.save(update_fields=["external_id"])
    return encounter


def test_his_submits_claims_idempotently(chain, visit):
    _his_visit(visit, chain, "V-1")
    _his_visit(visit, chain, "V-2")
    his = his_api(chain["township"])
    body = {"claims": [{"external_id": "V-1"}, {"external_id": "V-2"}]}
    first = post(his, SUBMIT, body, "his-1")
    assert first.status_code == 201, first.content
    assert [c["status"] for c in first.data["claims"]] == ["submitted", "submitted"] and len(first.data["batches"]) == 1
    again = post(his, SUBMIT, body, "his-1")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true" and again.data == first.data
    assert type(chain["township"]).objects.get(pk=chain["township"].pk).claims.count() == 2
    listed = his.get(CLAIMS).data
    assert listed["count"] == 2


def test_his_submission_errors_name_each_visit_and_nothing_is_written(chain, visit):
    from insurance.models import Claim

    _his_visit(visit, chain, "V-1")
    claimed = _his_visit(visit, chain, "V-2")
    services.create_claim(encounter=claimed, actor=SYSTEM)
    unenrolled = _his_visit(visit, chain, "V-3")
    unenrolled.patient.enrolments.all().delete()
    his = his_api(chain["township"])
    body = {
        "claims": [
            {"external_id": "V-1"},
            {"external_id": "V-2"},
            {"external_id": "V-3"},
            {"external_id": "V-9"},
            {"external_id": "V-1"},
        ]
    }
    response = post(his, SUBMIT, body, "his-bad")
    errors = problem(response, 422, "claims_refused")["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [
        ("claims.1.external_id", "claim_exists"),
        ("claims.2.external_id", "not_enrolled"),
        ("claims.3.external_id", "not_found"),
        ("claims.4.external_id", "duplicate"),
    ]
    assert Claim.objects.count() == 1
    assert fields(post(his, SUBMIT, {"claims": []}, "his-empty"), 400) == {"claims"}


def test_only_a_member_system_submits(chain, office_api):
    assert problem(post(office_api, SUBMIT, {"claims": [{"external_id": "V-1"}]}, "office"), 403)


def test_another_institutions_visit_is_not_found(chain, visit):
    _his_visit(visit, chain, "V-1")
    response = post(his_api(chain["city"]), SUBMIT, {"claims": [{"external_id": "V-1"}]}, "city")
    assert [(e["field"], e["code"]) for e in problem(response, 422)["errors"]] == [("claims.0.external_id", "not_found")]


# --- FHIR -----------------------------------------------------------------------------------------


def test_claim_response_of_a_line_adjudication(two_line_claim, office_api):
    post(
        office_api,
        ADJUDICATE,
        {
            "results": [
                {
                    "claim_number": two_line_claim.number,
                    "lines": [{"sequence": 2, "approved_amount": "100.00", "reason_code": "R02"}],
                }
            ]
        },
        "fhir-1",
    )
    response = office_api.get(reverse("api-insurance-claim-fhir", args=[two_line_claim.number]))
    assert response.status_code == 200 and response["Content-Type"].startswith("application/fhir+json")
    resource = response.json()
    ClaimResponse.model_validate(resource)
    assert resource["outcome"] == "complete"
    benefit = next(t for t in resource["total"] if t["category"]["coding"][0]["code"] == "benefit")
    assert benefit["amount"] == {"value": 301.88, "currency": "CNY"}
    second = resource["item"][1]
    reasons = [a.get("reason") for a in second["adjudication"] if a["category"]["coding"][0]["code"] == "benefit"]
    assert reasons[0]["coding"][0]["code"] == "R02"
    assert resource["patient"]["identifier"]["value"] == two_line_claim.insurance_number
    assert "name" not in str(resource["patient"])


def test_claim_response_while_submitted_is_queued(two_line_claim, office_api):
    resource = office_api.get(reverse("api-insurance-claim-fhir", args=[two_line_claim.number])).json()
    assert resource["outcome"] == "queued" and "benefit" not in str(resource["total"])
    assert problem(office_api.get(reverse("api-insurance-claim-fhir", args=["NOPE"])), 404)


def test_unknown_claim_number_in_fhir_is_404(office_api):
    assert problem(office_api.get(reverse("api-insurance-claim-fhir", args=["X-1"])), 404)
    # a NUL is refused before any lookup, the same on both databases
    assert problem(office_api.get(reverse("api-insurance-claim-fhir", args=["X\x00 1"])), 400)["code"] == "invalid_characters"
