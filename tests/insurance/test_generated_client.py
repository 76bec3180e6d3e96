"""An insurer engineer's first day: generate a client from the live schema and walk the whole workflow.

``openapi-python-client`` (a pinned test dependency, runs offline) generates a package from
``/api/schema/`` of a real server process on 127.0.0.1; every module of it must import, and the
insurer workflow runs through the generated functions and models only: pull claims, adjudicate one
and a batch, upload a settlement file, reconcile, read the run and its discrepancies, export them as
CSV, explain and resolve them, close the period. No hand-written HTTP here.
"""

import csv
import importlib
import io
import pkgutil
import subprocess
import sys
from decimal import Decimal

import pytest

from consortium.permissions import SYSTEM
from insurance import services
from tests.live_server import web_server  # noqa: F401  (fixture)

PERIOD = "2026-03"


def _generate(url: str, tmp_path) -> str:
    config = tmp_path / "generator.yaml"
    config.write_text("project_name_override: consortium_client\npackage_name_override: consortium_client\npost_hooks: []\n")
    out = tmp_path / "generated" / "consortium_client"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--url",
            f"{url}/api/schema/?format=json",
            "--meta",
            "none",
            "--config",
            str(config),
            "--output-path",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    return str(tmp_path / "generated")


@pytest.fixture
def generated(web_server, tmp_path):  # noqa: F811
    root = _generate(web_server.url, tmp_path)
    sys.path.insert(0, root)
    try:
        yield importlib.import_module("consortium_client")
    finally:
        sys.path.remove(root)
        for name in [n for n in sys.modules if n == "consortium_client" or n.startswith("consortium_client.")]:
            del sys.modules[name]


def _import_every_module(generated):
    names = [m.name for m in pkgutil.walk_packages(generated.__path__, "consortium_client.")]
    failures = {}
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - every failure is listed
            failures[name] = repr(exc)
    assert not failures
    assert len(names) > 150 and "consortium_client.api.insurance.insurance_settlement_files_create" in names


def test_the_generated_client_imports_and_walks_the_insurer_workflow(generated, chain, visit, office_token, web_server):  # noqa: F811
    _import_every_module(generated)
    from consortium_client import AuthenticatedClient
    from consortium_client.api.insurance import (
        insurance_adjudications_create,
        insurance_claims_list,
        insurance_claims_retrieve,
        insurance_discrepancies_create,
        insurance_periods_close_create,
        insurance_reconciliations_create,
        insurance_reconciliations_discrepancies_csv,
        insurance_reconciliations_discrepancies_list,
        insurance_reconciliations_retrieve,
        insurance_reconciliations_totals_list,
        insurance_settlement_files_create,
        insurance_settlement_files_file_retrieve,
        insurance_settlement_files_list,
    )
    from consortium_client.models import (
        AdjudicationItemRequest,
        AdjudicationRequest,
        DiscrepancyUpdateRequest,
        PeriodCloseRequest,
        Problem,
        RunStartRequest,
        SettlementUploadRequest,
    )
    from consortium_client.models.adjudication_outcome_enum import AdjudicationOutcomeEnum
    from consortium_client.models.discrepancy_status_enum import DiscrepancyStatusEnum
    from consortium_client.models.insurance_claims_list_status import InsuranceClaimsListStatus
    from consortium_client.models.insurance_reconciliations_discrepancies_csv_kind import (
        InsuranceReconciliationsDiscrepanciesCsvKind,
    )
    from consortium_client.types import File

    for _ in range(4):
        services.create_claim(encounter=visit(), actor=SYSTEM)
    services.submit_claims(institution=chain["township"], period=PERIOD, actor=SYSTEM)
    town = chain["township"].code
    api = AuthenticatedClient(base_url=web_server.url, token=office_token[1], raise_on_unexpected_status=True)

    # Pull the submitted claims, two to a page.
    first = insurance_claims_list.sync(client=api, status=InsuranceClaimsListStatus.SUBMITTED, period=PERIOD, limit=2)
    second = insurance_claims_list.sync(client=api, status=InsuranceClaimsListStatus.SUBMITTED, period=PERIOD, limit=2, offset=2)
    assert first.count == 4 and first.next_ and second.previous
    numbers = [c.number for c in first.results + second.results]
    assert len(set(numbers)) == 4
    detail = insurance_claims_retrieve.sync(numbers[0], client=api)
    assert detail.number == numbers[0] and detail.lines and detail.institution == town

    # Adjudicate one, then the other three in one request.
    single = insurance_adjudications_create.sync(
        client=api,
        idempotency_key="walk-single",
        body=AdjudicationRequest(
            results=[AdjudicationItemRequest(claim_number=numbers[0], outcome=AdjudicationOutcomeEnum.APPROVED)]
        ),
    )
    assert [c.status for c in single] == ["approved"]
    bulk = insurance_adjudications_create.sync(
        client=api,
        idempotency_key="walk-bulk",
        body=AdjudicationRequest(
            results=[
                AdjudicationItemRequest(claim_number=numbers[1], outcome=AdjudicationOutcomeEnum.APPROVED),
                AdjudicationItemRequest(
                    claim_number=numbers[2],
                    outcome=AdjudicationOutcomeEnum.PARTLY_APPROVED,
                    approved_amount="100.00",
                    reason_codes=["R02"],
                ),
                AdjudicationItemRequest(claim_number=numbers[3], outcome=AdjudicationOutcomeEnum.REJECTED, reason_codes=["R10"]),
            ]
        ),
    )
    approved = {c.number: Decimal(c.approved_amount or "0") for c in single + bulk}
    assert [str(c.status) for c in bulk] == ["approved", "partly_approved", "rejected"]

    # The settlement file: one paid as adjudicated, one paid short, one as approved, one rejected, one unknown.
    rows = [
        ["claim_number", "institution_code", "paid_amount", "payment_status", "reason_code", "payment_reference"],
        [numbers[0], town, f"{approved[numbers[0]]:.2f}", "paid", "", "PAY-1"],
        [numbers[1], town, f"{approved[numbers[1]] - 1:.2f}", "paid", "", "PAY-2"],
        [numbers[2], town, "100.00", "paid", "P01", "PAY-3"],
        [numbers[3], town, "0.00", "rejected", "R10", ""],
        ["NO-SUCH-CLAIM", town, "9.99", "paid", "", "PAY-5"],
    ]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    content = buffer.getvalue().encode()
    uploaded = insurance_settlement_files_create.sync(
        client=api,
        idempotency_key="walk-upload",
        body=SettlementUploadRequest(
            file=File(payload=io.BytesIO(content), file_name="settlement-2026-03.csv", mime_type="text/csv"), period=PERIOD
        ),
    )
    assert uploaded.line_count == 5 and uploaded.period == PERIOD
    listed = insurance_settlement_files_list.sync(client=api)
    assert [f.id for f in listed.results] == [uploaded.id]
    assert insurance_settlement_files_file_retrieve.sync(uploaded.id, client=api).payload.read() == content
    again = insurance_settlement_files_create.sync(
        client=api,
        idempotency_key="walk-upload-again",
        body=SettlementUploadRequest(file=File(payload=io.BytesIO(content), file_name="again.csv"), period=PERIOD),
    )
    assert isinstance(again, Problem) and again.status == 409 and again.code == "duplicate_file"

    # Reconcile and read the result.
    run = insurance_reconciliations_create.sync(
        client=api, idempotency_key="walk-run", body=RunStartRequest(settlement_file=uploaded.id, institution=town)
    )
    assert insurance_reconciliations_retrieve.sync(run.id, client=api).status == "finished"
    page = insurance_reconciliations_discrepancies_list.sync(run.id, client=api)
    kinds = {d.claim_number: str(d.kind) for d in page.results}
    assert kinds[numbers[1]] == "amount_mismatch" and kinds["NO-SUCH-CLAIM"] == "unknown_claim"
    totals = insurance_reconciliations_totals_list.sync(client=api, period=PERIOD)
    assert [(t.institution, t.period) for t in totals] == [(town, PERIOD)]
    assert Decimal(totals[0].expected) + Decimal(totals[0].difference) == Decimal(totals[0].paid)

    exported = insurance_reconciliations_discrepancies_csv.sync(
        run.id, client=api, kind=InsuranceReconciliationsDiscrepanciesCsvKind.AMOUNT_MISMATCH
    )
    exported_rows = list(csv.DictReader(io.StringIO(exported.lstrip("\ufeff"))))
    assert [(r["kind"], r["claim_number"]) for r in exported_rows] == [("amount_mismatch", numbers[1])]

    # Explain the short payment, resolve every open discrepancy, close the period.
    open_ones = [d for d in page.results if str(d.status) == "open"]
    assert open_ones
    shortfall = next(d for d in open_ones if d.claim_number == numbers[1])
    explained = insurance_discrepancies_create.sync(
        shortfall.id,
        client=api,
        idempotency_key="walk-explain",
        body=DiscrepancyUpdateRequest(status=DiscrepancyStatusEnum.EXPLAINED, note="Rounding agreed with the clinic"),
    )
    assert str(explained.status) == "explained"
    for index, discrepancy in enumerate(open_ones):
        resolved = insurance_discrepancies_create.sync(
            discrepancy.id,
            client=api,
            idempotency_key=f"walk-resolve-{index}",
            body=DiscrepancyUpdateRequest(status=DiscrepancyStatusEnum.RESOLVED, note="Settled in April"),
        )
        assert str(resolved.status) == "resolved"
    closed = insurance_periods_close_create.sync(
        client=api, idempotency_key="walk-close", body=PeriodCloseRequest(institution=town, period=PERIOD)
    )
    assert (closed.institution, closed.period) == (town, PERIOD)
    refused = insurance_periods_close_create.sync(
        client=api, idempotency_key="walk-close-again", body=PeriodCloseRequest(institution=town, period=PERIOD)
    )
    assert isinstance(refused, Problem) and refused.status == 409
    assert "Traceback" not in web_server.log()
