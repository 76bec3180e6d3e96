"""Settlement files and set-based reconciliation: every discrepancy type, malformed files, period close."""

import io
from decimal import Decimal

import pytest
from openpyxl import Workbook

from consortium.errors import Conflict, Invalid
from consortium.permissions import SYSTEM
from insurance import services
from insurance.models import Claim, ClaimStatus, Discrepancy, DiscrepancyStatus, Scheme, SettlementFile, SettlementLine
from insurance.settlement import SettlementFileErrors
from insurance.tasks import reconcile_pending_files

D = Decimal
HEADER = "claim_number,institution_code,paid_amount,payment_status,reason_code,payment_reference\n"


def upload(office, text, *, encoding="utf-8", name="settlement.csv", raw=None):
    data = raw if raw is not None else text.encode("gb18030" if encoding == "gb18030" else "utf-8")
    return services.store_settlement_file(
        office=office, period="2026-03", upload=io.BytesIO(data), file_name=name, encoding=encoding, actor=SYSTEM
    )


def crafted_file(claims):
    c = [claim.number for claim in claims]
    return HEADER + "\n".join(
        [
            f"{c[0]},TOWN,340.00,paid,,P1",  # matched
            f"{c[1]},TOWN,300.00,paid,,P2",  # amount mismatch: -40.00
            # c[2]: missing at insurer
            "TOWN-999999-1,TOWN,88.00,paid,,P3",  # unknown claim
            f"{c[3]},TOWN,340.00,paid,,P4",  # matched ...
            f"{c[3]},TOWN,340.00,paid,,P5",  # ... and paid twice: duplicate payment
            f"{c[4]},TOWN,0,rejected,X1,P6",  # rejected by the insurer
            # c[5]: missing at insurer; c[6]: rejected at adjudication, no line (matched: nothing owed)
            "CITY-000001-1,CITY,10.00,paid,,P7",  # another institution: not in the township's run
        ]
    )


def test_every_discrepancy_type(chain, adjudicated):
    settlement = upload(chain["office"], crafted_file(adjudicated))
    assert settlement.line_count == 7 and len(settlement.sha256) == 64
    run = services.run_reconciliation(settlement_file=settlement, institution=chain["township"], actor=SYSTEM)
    found = {(d.claim_number, d.kind, d.difference, d.status) for d in run.discrepancies.all()}
    c = [claim.number for claim in adjudicated]
    assert found == {
        (c[0], "matched", D("0.00"), "resolved"),
        (c[1], "amount_mismatch", D("-40.00"), "open"),
        (c[2], "missing_at_insurer", D("-340.00"), "open"),
        ("TOWN-999999-1", "unknown_claim", D("88.00"), "open"),
        (c[3], "matched", D("0.00"), "resolved"),
        (c[3], "duplicate_payment", D("340.00"), "open"),
        (c[4], "rejected", D("-340.00"), "open"),
        (c[5], "missing_at_insurer", D("-340.00"), "open"),
        (c[6], "matched", D("0.00"), "resolved"),  # rejected at adjudication, no line: both agree nothing is owed
    }
    statuses = dict(Claim.objects.filter(number__in=c).values_list("number", "status"))
    assert statuses[c[0]] == statuses[c[3]] == ClaimStatus.RECONCILED
    assert statuses[c[1]] == ClaimStatus.SETTLED and statuses[c[2]] == ClaimStatus.APPROVED
    assert Claim.objects.get(number=c[0]).settled_amount == D("340.00")
    row = Discrepancy.objects.get(run=run, kind="unknown_claim")
    assert row.line.row_number == 4


def test_gb18030_and_chinese_headers(chain, adjudicated):
    text = "结算单号,机构编码,支付金额,支付状态,原因代码,支付流水号\n" + f"{adjudicated[0].number},TOWN,340.00,已支付,,流水一\n"
    settlement = upload(chain["office"], text, encoding="gb18030")
    line = SettlementLine.objects.get(file=settlement)
    assert (line.payment_status, line.payment_reference) == ("paid", "流水一")


def test_utf8_with_bom(chain, adjudicated):
    settlement = upload(chain["office"], "\ufeff" + HEADER + f"{adjudicated[0].number},TOWN,340,paid,,\n")
    assert settlement.line_count == 1


def test_xlsx(chain, adjudicated):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["claim_number", "institution_code", "paid_amount", "payment_status"])
    sheet.append([adjudicated[0].number, "TOWN", 340.0, "paid"])
    sheet.append([adjudicated[1].number, "TOWN", 12.5, "paid"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    settlement = upload(chain["office"], "", name="结算.xlsx", raw=buffer.getvalue())
    assert settlement.file_format == "xlsx"
    assert sorted(SettlementLine.objects.values_list("paid_amount", flat=True)) == [D("12.50"), D("340.00")]


def refused(office, text="", **kwargs):
    with pytest.raises(SettlementFileErrors) as excinfo:
        upload(office, text, **kwargs)
    assert not SettlementFile.objects.exists() and not SettlementLine.objects.exists()
    return {(e["row"], e["field"]) for e in excinfo.value.errors}, excinfo.value.errors


def test_wrong_encoding_names_the_row(chain, adjudicated):
    text = HEADER + f"{adjudicated[0].number},TOWN,340.00,paid,,流水\n"
    errors, _ = refused(chain["office"], raw=text.encode("gb18030"))
    assert errors == {(2, "file")}


def test_missing_columns(chain):
    errors, messages = refused(chain["office"], "claim_number,paid_amount\nX,1\n")
    assert errors == {(1, "institution_code"), (1, "payment_status")}


def test_bad_amounts_and_fields_each_with_row_and_field(chain, adjudicated):
    text = HEADER + "\n".join(
        [
            f"{adjudicated[0].number},TOWN,abc,paid,,",
            f"{adjudicated[1].number},TOWN,12.345,paid,,",
            f"{adjudicated[2].number},TOWN,1e5,paid,,",
            f"{adjudicated[3].number},OUT,1.00,paid,,",  # outside the office's region
            f"{adjudicated[4].number},TOWN,1.00,maybe,,",
            ",TOWN,1.00,paid,,",
            f"{adjudicated[5].number},TOWN,1.00",
        ]
    )
    errors, messages = refused(chain["office"], text)
    assert errors == {
        (2, "paid_amount"),
        (3, "paid_amount"),
        (4, "paid_amount"),
        (5, "institution_code"),
        (6, "payment_status"),
        (7, "claim_number"),
        (8, "row"),
    }
    assert all(m["message"] and m["code"] for m in messages)


def test_empty_and_header_only(chain):
    assert refused(chain["office"], raw=b"")[0] == {(1, "file")}
    assert refused(chain["office"], HEADER)[0] == {(2, "file")}


def test_oversized(chain, settings):
    settings.INSURANCE_SETTLEMENT_MAX_BYTES = 100
    assert refused(chain["office"], HEADER + "X-1,TOWN,1.00,paid,,\n" * 10)[0] == {(None, "file")}


def test_unknown_encoding_and_broken_xlsx(chain):
    assert refused(chain["office"], HEADER, encoding="latin-1")[0] == {(None, "encoding")}
    assert refused(chain["office"], raw=b"PK\x03\x04broken", name="x.xlsx")[0] == {(None, "file")}


def test_rerun_supersedes_open_discrepancies_and_period_close(chain, adjudicated):
    settlement = upload(chain["office"], crafted_file(adjudicated))
    first = services.run_reconciliation(settlement_file=settlement, institution=chain["township"], actor=SYSTEM)
    with pytest.raises(Conflict):
        services.close_period(institution=chain["township"], period="2026-03", actor=SYSTEM, office=chain["office"])
    second = services.run_reconciliation(settlement_file=settlement, institution=chain["township"], actor=SYSTEM)
    assert not first.discrepancies.filter(status=DiscrepancyStatus.OPEN).exists()
    open_items = list(second.discrepancies.filter(status=DiscrepancyStatus.OPEN))
    assert len(open_items) == 6
    with pytest.raises(Invalid):
        services.update_discrepancy(discrepancy=open_items[0], status=DiscrepancyStatus.RESOLVED, note=" ", actor=SYSTEM)
    for item in open_items:
        services.update_discrepancy(discrepancy=item, status=DiscrepancyStatus.EXPLAINED, note="医保已确认", actor=SYSTEM)
    services.close_period(institution=chain["township"], period="2026-03", actor=SYSTEM, office=chain["office"])
    with pytest.raises(Conflict):
        services.update_discrepancy(discrepancy=open_items[0], status=DiscrepancyStatus.OPEN, note="", actor=SYSTEM)
    with pytest.raises(Conflict):
        services.run_reconciliation(settlement_file=settlement, institution=chain["township"], actor=SYSTEM)
    with pytest.raises(Conflict):
        services.close_period(institution=chain["township"], period="2026-03", actor=SYSTEM, office=chain["office"])


def test_nightly_task_reconciles_each_institution_once(chain, adjudicated):
    upload(chain["office"], crafted_file(adjudicated))
    assert reconcile_pending_files() == 2  # TOWN and CITY
    assert reconcile_pending_files() == 0


def test_claims_of_schemes_the_office_does_not_administer_are_out_of_scope(chain, adjudicated):
    other = Scheme.objects.get_or_create(code="UEBMI", defaults={"name": "职工"})[0]
    Claim.objects.filter(pk=adjudicated[5].pk).update(scheme=other)
    settlement = upload(chain["office"], crafted_file(adjudicated))
    run = services.run_reconciliation(settlement_file=settlement, institution=chain["township"], actor=SYSTEM)
    missing = set(run.discrepancies.filter(kind="missing_at_insurer").values_list("claim_number", flat=True))
    assert missing == {adjudicated[2].number}


def test_broken_csv_quoting_names_the_row(chain):
    errors, messages = refused(chain["office"], HEADER + 'X-1,TOWN,1.00,paid,,"unterminated\n')
    assert errors == {(2, "file")} and "CSV" in messages[0]["message"]
