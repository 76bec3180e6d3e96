"""Settlement lines with payment date and trace number, reversals naming their payment, and the
file's control total and line count: every bad input refused whole with its problem code."""

import io
from decimal import Decimal as D

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Sum
from django.urls import reverse
from fhir.resources.R4B.paymentreconciliation import PaymentReconciliation
from openpyxl import Workbook

from consortium.permissions import SYSTEM
from insurance import services
from insurance.models import SettlementFile, SettlementLine
from insurance.settlement import SettlementFileErrors
from tests.problems import problem, rows

FULL = "claim_number,institution_code,paid_amount,payment_status,reason_code,payment_reference,payment_date,reverses_reference\n"
FILES = reverse("api-insurance-settlement-files")


def _upload(office, text, *, name="s.csv", **controls):
    return services.store_settlement_file(
        office=office,
        period="2026-03",
        upload=io.BytesIO(text.encode() if isinstance(text, str) else text),
        file_name=name,
        encoding="utf-8",
        actor=SYSTEM,
        **controls,
    )


def _refused(office, text, **controls) -> list[tuple]:
    count = SettlementFile.objects.count()
    lines = SettlementLine.objects.count()
    with pytest.raises(SettlementFileErrors) as excinfo:
        _upload(office, text, **controls)
    assert SettlementFile.objects.count() == count and SettlementLine.objects.count() == lines
    return [(e["row"], e["field"], e["code"]) for e in excinfo.value.errors]


def test_payment_date_trace_and_reversal_are_stored(chain, adjudicated):
    c = [claim.number for claim in adjudicated]
    text = FULL + "\n".join(
        [
            f"{c[0]},TOWN,340.00,paid,,TR-1,2026-04-05,",
            f"{c[1]},TOWN,340.00,paid,,TR-2,2026-04-05,",
            f"{c[1]},TOWN,-40.00,paid,,TR-3,2026-04-06,TR-2",
            f"{c[4]},TOWN,0,rejected,X1,,,",
        ]
    )
    settlement = _upload(chain["office"], text, control_total=D("640.00"), control_count=4)
    assert (settlement.control_total, settlement.control_count) == (D("640.00"), 4)
    reversal = settlement.lines.get(row_number=4)
    assert (reversal.payment_reference, reversal.reverses_reference, str(reversal.payment_date)) == ("TR-3", "TR-2", "2026-04-06")
    assert settlement.lines.get(row_number=5).payment_date is None


def test_a_reversal_may_name_a_payment_of_an_earlier_file(chain, adjudicated):
    c = adjudicated[0].number
    _upload(chain["office"], FULL + f"{c},TOWN,340.00,paid,,TR-1,2026-04-05,\n")
    later = _upload(chain["office"], FULL + f"{c},TOWN,-340.00,paid,,TR-9,2026-04-20,TR-1\n", name="later.csv")
    assert later.line_count == 1


def test_older_files_without_payment_columns_still_parse(chain, adjudicated):
    from .test_reconciliation import HEADER

    settlement = _upload(chain["office"], HEADER + f"{adjudicated[0].number},TOWN,340.00,paid,,P1\n")
    line = settlement.lines.get()
    assert (line.payment_date, line.reverses_reference) == (None, "")


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("{c0},TOWN,340.00,paid,,TR-1,,", "payment_date"),  # a paid line of a file with payment dates
        ("{c0},TOWN,340.00,paid,,,2026-04-05,", "payment_reference"),
        ("{c0},TOWN,340.00,paid,,TR-1,2026-02-30,", "payment_date"),
        ("{c0},TOWN,340.00,paid,,TR-1,05/04/2026,", "payment_date"),
        ("{c0},TOWN,340.00,paid,,TR-1,２０２６-04-05,", "payment_date"),
        ("{c0},TOWN,340.00,paid,,TR-1,1999-04-05,", "payment_date"),
        ("{c0},TOWN,-40.00,paid,,TR-1,2026-04-05,", "reverses_reference"),  # a reversal that names nothing
        ("{c0},TOWN,340.00,paid,,TR-1,2026-04-05,TR-0", "reverses_reference"),  # only reversals name one
    ],
)
def test_bad_payment_detail_is_refused(chain, adjudicated, line, field):
    text = FULL + line.format(c0=adjudicated[0].number) + "\n"
    assert _refused(chain["office"], text) == [(2, field, "invalid")]


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\t"])
@pytest.mark.parametrize("column", [6, 7])
def test_control_characters_in_the_payment_columns(chain, adjudicated, char, column):
    cells = [adjudicated[0].number, "TOWN", "-40.00", "paid", "", "TR-2", "2026-04-05", "TR-1"]
    cells[column] = cells[column][:2] + char + cells[column][2:]
    text = FULL + ",".join(f'"{cell}"' for cell in cells) + "\n"
    field = FULL.strip().split(",")[column]
    assert _refused(chain["office"], text) == [(2, field, "control_character")]


def test_a_reversal_of_an_unknown_payment_is_refused(chain, adjudicated):
    c = [claim.number for claim in adjudicated]
    text = FULL + f"{c[0]},TOWN,340.00,paid,,TR-1,2026-04-05,\n{c[1]},TOWN,-40.00,paid,,TR-2,2026-04-06,TR-1\n"
    # TR-1 paid another claim: a reversal names a payment of its own claim
    assert _refused(chain["office"], text) == [(3, "reverses_reference", "unknown_payment")]


def test_a_reversal_may_not_take_back_more_than_was_paid(chain, adjudicated):
    c = adjudicated[0].number
    text = FULL + f"{c},TOWN,340.00,paid,,TR-1,2026-04-05,\n{c},TOWN,-300.00,paid,,TR-2,2026-04-06,TR-1\n"
    text += f"{c},TOWN,-40.01,paid,,TR-3,2026-04-07,TR-1\n"
    assert _refused(chain["office"], text) == [(4, "paid_amount", "reversal_exceeds_payment")]


def test_another_offices_payment_cannot_be_reversed(chain, adjudicated):
    from tests.factories import InsuranceOfficeFactory

    other = InsuranceOfficeFactory(region_code="420500")
    c = adjudicated[0].number
    _upload(other, FULL + f"{c},TOWN,340.00,paid,,TR-1,2026-04-05,\n")
    assert _refused(chain["office"], FULL + f"{c},TOWN,-340.00,paid,,TR-2,2026-04-06,TR-1\n") == [
        (2, "reverses_reference", "unknown_payment")
    ]


def test_control_total_and_count_mismatches_are_refused(chain, adjudicated):
    c = adjudicated[0].number
    text = FULL + f"{c},TOWN,340.00,paid,,TR-1,2026-04-05,\n"
    assert _refused(chain["office"], text, control_total=D("340.01")) == [(None, "control_total", "control_total_mismatch")]
    assert _refused(chain["office"], text, control_count=2) == [(None, "control_count", "control_count_mismatch")]
    assert _refused(chain["office"], text, control_total=D("0"), control_count=0) == [
        (None, "control_count", "control_count_mismatch"),
        (None, "control_total", "control_total_mismatch"),
    ]


def test_xlsx_payment_dates_as_date_cells(chain, adjudicated):
    import datetime

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(FULL.strip().split(","))
    sheet.append([adjudicated[0].number, "TOWN", 340, "paid", None, "TR-1", datetime.date(2026, 4, 5)])
    sheet.append([adjudicated[1].number, "TOWN", 340, "paid", None, "TR-2", datetime.datetime(2026, 4, 6)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    settlement = _upload(chain["office"], buffer.getvalue(), name="s.xlsx")
    assert sorted(str(d) for d in settlement.lines.values_list("payment_date", flat=True)) == ["2026-04-05", "2026-04-06"]


def test_a_reversal_is_netted_into_the_payment_it_names(chain, adjudicated):
    c = [claim.number for claim in adjudicated]
    text = FULL + "\n".join(
        [
            f"{c[0]},TOWN,350.00,paid,,TR-1,2026-04-05,",
            f"{c[0]},TOWN,-10.00,paid,,TR-2,2026-04-06,TR-1",  # the overpayment taken back: 340.00 left, as approved
            f"{c[1]},TOWN,340.00,paid,,TR-3,2026-04-05,",
            f"{c[1]},TOWN,-340.00,paid,,TR-4,2026-04-06,TR-3",  # the whole payment taken back
        ]
    )
    run = services.run_reconciliation(settlement_file=_upload(chain["office"], text), institution=chain["township"], actor=SYSTEM)
    found = {(d.claim_number, d.kind, d.paid_amount, d.difference) for d in run.discrepancies.filter(claim_number__in=c[:2])}
    assert found == {(c[0], "matched", D("340.00"), D("0.00")), (c[1], "amount_mismatch", D("0.00"), D("-340.00"))}
    totals = run.discrepancies.aggregate(paid=Sum("paid_amount"), expected=Sum("expected_amount"), difference=Sum("difference"))
    assert D(totals["paid"]).quantize(D("0.01")) == D("340.00")
    assert D(totals["expected"] + totals["difference"]).quantize(D("0.01")) == D(totals["paid"]).quantize(D("0.01"))


# --- through the API ------------------------------------------------------------------------------


def _post_file(api, text, key, **data):
    upload = SimpleUploadedFile("s.csv", text.encode(), content_type="text/csv")
    return api.post(FILES, {"file": upload, "period": "2026-03", **data}, format="multipart", HTTP_IDEMPOTENCY_KEY=key)


def test_upload_with_controls_through_the_api(chain, adjudicated, office_api):
    c = adjudicated[0].number
    text = FULL + f"{c},TOWN,340.00,paid,,TR-1,2026-04-05,\n"
    wrong = _post_file(office_api, text, "ctl-1", control_total="340.10", control_count="1")
    assert rows(wrong, 422, "settlement_file_refused") == {(None, "control_total")}
    assert problem(wrong, 422)["errors"][0]["code"] == "control_total_mismatch"
    assert not SettlementFile.objects.exists()
    for bad in ("1e2", "３４０.00", "340.001", "3,40"):
        response = _post_file(office_api, text, f"ctl-bad-{bad}", control_total=bad)
        assert {e["field"] for e in problem(response, 400)["errors"]} == {"control_total"}
    assert {e["field"] for e in problem(_post_file(office_api, text, "ctl-n", control_count="-1"), 400)["errors"]} == {
        "control_count"
    }
    good = _post_file(office_api, text, "ctl-2", control_total="340.00", control_count="1")
    assert good.status_code == 201 and good.data["control_total"] == "340.00" and good.data["control_count"] == 1
    lines = office_api.get(reverse("api-insurance-settlement-lines", args=[good.data["id"]])).data
    assert lines["results"][0]["payment_date"] == "2026-04-05" and lines["results"][0]["payment_reference"] == "TR-1"


def test_payment_reconciliation_view(chain, adjudicated, office_api):
    c = [claim.number for claim in adjudicated]
    text = FULL + "\n".join(
        [
            f"{c[0]},TOWN,340.00,paid,,TR-1,2026-04-05,",
            f"{c[1]},TOWN,340.00,paid,,TR-2,2026-04-05,",
            f"{c[1]},TOWN,-40.00,paid,,TR-3,2026-04-08,TR-2",
            f"{c[4]},TOWN,0,rejected,X1,,,",
        ]
    )
    settlement = _upload(chain["office"], text)
    url = reverse("api-insurance-settlement-fhir", args=[settlement.pk])
    response = office_api.get(url, {"limit": 2})
    assert response.status_code == 200 and response["Content-Type"].startswith("application/fhir+json")
    resource = response.json()
    PaymentReconciliation.model_validate(resource)
    assert resource["paymentAmount"] == {"value": 640.0, "currency": "CNY"} and resource["paymentDate"] == "2026-04-08"
    assert [d["identifier"]["value"] for d in resource["detail"]] == ["TR-1", "TR-2"]
    assert 'rel="next"' in response["Link"] and "offset=2" in response["Link"]
    rest = office_api.get(url, {"limit": 2, "offset": 2}).json()
    reversal = rest["detail"][0]
    assert reversal["type"]["coding"][0]["code"] == "adjustment" and reversal["predecessor"]["value"] == "TR-2"
    assert problem(office_api.get(url, {"limit": 0}), 400, "out_of_range")
    assert problem(office_api.get(url, {"institution": "TO\x00WN"}), 400)["code"] == "invalid_characters"
    assert office_api.get(url, {"institution": "CITY"}).json()["paymentAmount"]["value"] == 0.0
    lines_url = reverse("api-insurance-settlement-lines", args=[settlement.pk])
    assert problem(office_api.get(lines_url, {"institution": "x y"}), 400)
    assert office_api.get(lines_url, {"institution": "TOWN"}).data["count"] == 4
    assert problem(office_api.get(reverse("api-insurance-settlement-fhir", args=[settlement.pk + 99])), 404)
