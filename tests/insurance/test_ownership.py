"""Each insurance office owns its reconciliation runs, discrepancies and period closes.

Two offices reconcile the same institution and period without touching each other's results; the
institution's staff read and explain but never resolve or close; the nightly run reconciles only the
newest file; a period closes only when its claims are adjudicated, refuses new files once closed, and
reopens with an audit.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from consortium.api_auth import ApiClientUser
from consortium.errors import Conflict, NotPermitted
from consortium.models import ApiClient, ApiClientKind, AuditEvent
from consortium.permissions import SYSTEM
from insurance import services, tasks
from insurance.models import (
    Claim,
    ClaimStatus,
    Discrepancy,
    DiscrepancyStatus,
    OfficeScheme,
    PeriodClose,
    ReconciliationRun,
    SettlementFile,
)
from tests.factories import InsuranceOfficeFactory
from tests.problems import problem

from .test_reconciliation import HEADER, crafted_file, upload

pytestmark = pytest.mark.django_db


def _token_user(office) -> ApiClientUser:
    client = ApiClient(name=f"office {office.pk}", kind=ApiClientKind.INSURANCE_OFFICE, insurance_office=office)
    client.issue_token()
    client.save()
    return ApiClientUser(client)


def _api(office) -> APIClient:
    client = ApiClient(name=f"api {office.pk}", kind=ApiClientKind.INSURANCE_OFFICE, insurance_office=office)
    token = client.issue_token()
    client.save()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


@pytest.fixture
def offices(chain, scheme):
    """The chain's office and a second office of the same region, both administering the scheme."""
    second = InsuranceOfficeFactory(region_code="420500")
    for office in (chain["office"], second):
        OfficeScheme.objects.get_or_create(office=office, scheme=scheme)
    return chain["office"], second


def _explain_all(run, actor):
    for item in run.discrepancies.filter(status=DiscrepancyStatus.OPEN):
        services.update_discrepancy(discrepancy=item, status=DiscrepancyStatus.EXPLAINED, note="已核实", actor=actor)


def test_two_offices_reconcile_one_institution_and_period_without_touching_each_other(chain, adjudicated, offices):
    first, second = offices
    a_user, b_user = _token_user(first), _token_user(second)
    a_run = services.run_reconciliation(
        settlement_file=upload(first, crafted_file(adjudicated)), institution=chain["township"], actor=a_user
    )
    a_open = set(a_run.discrepancies.filter(status=DiscrepancyStatus.OPEN).values_list("pk", flat=True))
    assert len(a_open) == 6
    b_file = upload(second, crafted_file(adjudicated) + "\n")
    with pytest.raises(NotPermitted):
        services.run_reconciliation(settlement_file=b_file, institution=chain["township"], actor=a_user)
    b_run = services.run_reconciliation(settlement_file=b_file, institution=chain["township"], actor=b_user)
    assert set(a_run.discrepancies.filter(status=DiscrepancyStatus.OPEN).values_list("pk", flat=True)) == a_open
    with pytest.raises(NotPermitted):
        services.update_discrepancy(
            discrepancy=a_run.discrepancies.filter(status=DiscrepancyStatus.OPEN).first(),
            status=DiscrepancyStatus.RESOLVED,
            note="不是我的",
            actor=b_user,
        )
    _explain_all(b_run, b_user)
    services.close_period(institution=chain["township"], period="2026-03", actor=b_user)
    assert PeriodClose.objects.filter(office=second).count() == 1 and not PeriodClose.objects.filter(office=first).exists()
    item = a_run.discrepancies.filter(status=DiscrepancyStatus.OPEN).first()
    services.update_discrepancy(discrepancy=item, status=DiscrepancyStatus.RESOLVED, note="医保已确认", actor=a_user)
    _explain_all(a_run, a_user)
    services.close_period(institution=chain["township"], period="2026-03", actor=a_user)
    services.reopen_period(institution=chain["township"], period="2026-03", actor=a_user, reason="补录结算")
    assert PeriodClose.objects.filter(office=second).exists() and not PeriodClose.objects.filter(office=first).exists()


def test_another_office_never_sees_a_run_through_the_api(chain, adjudicated, offices):
    first, second = offices
    run = services.run_reconciliation(
        settlement_file=upload(first, crafted_file(adjudicated)), institution=chain["township"], actor=SYSTEM
    )
    other = _api(second)
    problem(other.get(reverse("api-insurance-reconciliation", args=[run.pk])), 404, "not_found")
    problem(other.get(reverse("api-insurance-discrepancies", args=[run.pk])), 404, "not_found")
    some = run.discrepancies.first()
    url = reverse("api-insurance-discrepancy-update", args=[some.pk])
    problem(other.post(url, {"status": "resolved", "note": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="x"), 404, "not_found")


@pytest.mark.parametrize("who", ["clerk", "hospital_admin"])
def test_clinic_staff_explain_but_never_resolve_or_close(chain, adjudicated, who, login):
    run = services.run_reconciliation(
        settlement_file=upload(chain["office"], crafted_file(adjudicated)), institution=chain["township"], actor=SYSTEM
    )
    staff = chain["staff"]["clerk"]
    item = run.discrepancies.filter(status=DiscrepancyStatus.OPEN).first()
    if who == "clerk":
        explained = services.update_discrepancy(
            discrepancy=item, status=DiscrepancyStatus.EXPLAINED, note="患者转院", actor=staff.user
        )
        assert explained.status == DiscrepancyStatus.EXPLAINED
        with pytest.raises(NotPermitted):
            services.update_discrepancy(discrepancy=item, status=DiscrepancyStatus.RESOLVED, note="自行结案", actor=staff.user)
        with pytest.raises(NotPermitted):
            services.close_period(institution=chain["township"], period="2026-03", actor=staff.user)
    client = login(staff)
    page = client.get(reverse("insurance:reconciliation-detail", args=[run.pk]))
    assert page.status_code == 200 and reverse("insurance:period-close", args=[run.pk]) not in page.content.decode()
    refused = client.post(reverse("insurance:discrepancy-update", args=[item.pk]), {"status": "resolved", "note": "x"})
    assert refused.status_code == 400
    assert Discrepancy.objects.get(pk=item.pk).status != DiscrepancyStatus.RESOLVED
    client.post(reverse("insurance:period-close", args=[run.pk]))
    assert not PeriodClose.objects.exists()


def test_nightly_run_reconciles_only_the_newest_file_and_never_overrides_a_manual_run(chain, adjudicated, offices):
    first, _second = offices
    stale = upload(first, crafted_file(adjudicated))
    corrected = upload(first, crafted_file(adjudicated) + "\n")
    SettlementFile.objects.filter(pk=stale.pk).update(uploaded_at=timezone.now() - timezone.timedelta(hours=2))
    manual = services.run_reconciliation(settlement_file=corrected, institution=chain["township"], actor=_token_user(first))
    tasks.reconcile_pending_files()
    township_runs = ReconciliationRun.objects.filter(institution=chain["township"])
    assert list(township_runs.values_list("settlement_file_id", flat=True)) == [corrected.pk]
    assert township_runs.order_by("-pk").first() == manual
    assert not ReconciliationRun.objects.filter(settlement_file=stale).exists()


def test_nightly_run_with_two_unreconciled_files_takes_the_newer(chain, adjudicated, offices):
    first, _second = offices
    stale = upload(first, crafted_file(adjudicated))
    corrected = upload(first, crafted_file(adjudicated) + "\n")
    SettlementFile.objects.filter(pk=stale.pk).update(uploaded_at=timezone.now() - timezone.timedelta(hours=2))
    tasks.reconcile_pending_files()
    assert set(ReconciliationRun.objects.values_list("settlement_file_id", flat=True)) == {corrected.pk}
    assert tasks.reconcile_pending_files() == 0


def test_a_period_closes_only_when_every_claim_is_adjudicated(chain, adjudicated, visit, offices):
    first, _second = offices
    run = services.run_reconciliation(
        settlement_file=upload(first, crafted_file(adjudicated)), institution=chain["township"], actor=SYSTEM
    )
    _explain_all(run, SYSTEM)
    late = services.create_claim(encounter=visit(), actor=SYSTEM)
    services.submit_claims(institution=chain["township"], period="2026-03", actor=SYSTEM)
    api = _api(first)
    close = reverse("api-insurance-period-close")
    body = problem(
        api.post(close, {"institution": "TOWN", "period": "2026-03"}, format="json", HTTP_IDEMPOTENCY_KEY="c1"),
        409,
        "claims_not_adjudicated",
    )
    assert body["unadjudicated_claims"] == [late.number] and body["unadjudicated_count"] == 1
    assert not PeriodClose.objects.exists()
    Claim.objects.filter(pk=late.pk).update(status=ClaimStatus.APPROVED, approved_amount=late.reimbursed)
    assert (
        api.post(close, {"institution": "TOWN", "period": "2026-03"}, format="json", HTTP_IDEMPOTENCY_KEY="c2").status_code == 201
    )


def test_a_closed_period_refuses_new_files_until_reopened_with_an_audit(chain, adjudicated, offices):
    first, _second = offices
    run = services.run_reconciliation(
        settlement_file=upload(first, crafted_file(adjudicated)), institution=chain["township"], actor=SYSTEM
    )
    _explain_all(run, SYSTEM)
    api = _api(first)
    assert (
        api.post(
            reverse("api-insurance-period-close"),
            {"institution": "TOWN", "period": "2026-03"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="c",
        ).status_code
        == 201
    )
    files = reverse("api-insurance-settlement-files")
    text = HEADER + f"{adjudicated[0].number},TOWN,340.00,paid,,P9\n"
    late = SimpleUploadedFile("late.csv", text.encode(), content_type="text/csv")
    body = problem(
        api.post(files, {"file": late, "period": "2026-03"}, format="multipart", HTTP_IDEMPOTENCY_KEY="u1"), 409, "period_closed"
    )
    assert body["closed_institutions"] == ["TOWN"] and SettlementFile.objects.count() == 1
    with pytest.raises(Conflict):
        services.run_reconciliation(settlement_file=run.settlement_file, institution=chain["township"], actor=SYSTEM)
    reopen = reverse("api-insurance-period-reopen")
    problem(
        api.post(reopen, {"institution": "TOWN", "period": "2026-03", "reason": ""}, format="json", HTTP_IDEMPOTENCY_KEY="r0"),
        400,
    )
    assert (
        api.post(
            reopen, {"institution": "TOWN", "period": "2026-03", "reason": "补录"}, format="json", HTTP_IDEMPOTENCY_KEY="r1"
        ).status_code
        == 200
    )
    assert AuditEvent.objects.filter(action="insurance.period_reopened").count() == 1
    problem(
        api.post(
            reopen, {"institution": "TOWN", "period": "2026-03", "reason": "再次"}, format="json", HTTP_IDEMPOTENCY_KEY="r2"
        ),
        409,
        "period_not_closed",
    )
    late.seek(0)
    assert api.post(files, {"file": late, "period": "2026-03"}, format="multipart", HTTP_IDEMPOTENCY_KEY="u2").status_code == 201


def test_the_same_file_again_is_answered_with_the_stored_one(chain, adjudicated, offices):
    first, _second = offices
    api = _api(first)
    files = reverse("api-insurance-settlement-files")
    data = crafted_file(adjudicated).encode()
    created = api.post(
        files, {"file": SimpleUploadedFile("a.csv", data), "period": "2026-03"}, format="multipart", HTTP_IDEMPOTENCY_KEY="a"
    )
    assert created.status_code == 201
    again = api.post(
        files, {"file": SimpleUploadedFile("b.csv", data), "period": "2026-03"}, format="multipart", HTTP_IDEMPOTENCY_KEY="b"
    )
    body = problem(again, 409, "duplicate_file")
    assert body["existing_file"] == created.json()["id"] and SettlementFile.objects.count() == 1
