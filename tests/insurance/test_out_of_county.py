"""Residents' visits outside the county from the insurer's data: checked whole, landed set-based, idempotent."""

import pytest
from django.urls import reverse

from consortium.errors import Invalid, NotPermitted
from consortium.permissions import SYSTEM
from insurance.models import OutOfCountyFile, OutOfCountyVisit
from insurance.out_of_county import COLUMNS, land_out_of_county_file
from records.models import Encounter
from tests.factories import PatientFactory

HEADER = ",".join(COLUMNS)


def body(*lines):
    return ("\ufeff" + "\n".join([HEADER, *lines]) + "\n").encode()


def test_landing_is_idempotent_and_links_residents_without_records(chain, scheme):
    patient = PatientFactory(home_institution=chain["township"], insurance_number="H420525000042")
    data = body(
        "S-1,H420525000042,URRBMI,武汉协和医院,420102,city_hospital,inpatient,2026-03-04,18000.00,9000.00",
        "S-2,H999,URRBMI,宜都市人民医院,420581,county_hospital,outpatient,2026-03-09,300.00,120.00",
    )
    first = land_out_of_county_file(office=chain["office"], upload=data, file_name="2026-03.csv", actor=SYSTEM)
    assert (first.line_count, first.new_visits) == (2, 2)
    again = land_out_of_county_file(office=chain["office"], upload=data, file_name="2026-03.csv", actor=SYSTEM)
    assert again.new_visits == 0 and OutOfCountyVisit.objects.count() == 2
    visit = OutOfCountyVisit.objects.get(settlement_number="S-1")
    assert (visit.patient_id, visit.inpatient, str(visit.fund_paid)) == (patient.pk, True, "9000.00")
    assert OutOfCountyVisit.objects.get(settlement_number="S-2").patient_id is None
    assert not Encounter.objects.exists()


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("S-1,H1,XXX,医院,420102,city_hospital,inpatient,2026-03-04,10.00,5.00", "scheme"),
        ("S-1,H1,URRBMI,医院,4201,city_hospital,inpatient,2026-03-04,10.00,5.00", "institution_region"),
        ("S-1,H1,URRBMI,医院,420102,clinic,inpatient,2026-03-04,10.00,5.00", "level"),
        ("S-1,H1,URRBMI,医院,420102,city_hospital,emergency,2026-03-04,10.00,5.00", "kind"),
        ("S-1,H1,URRBMI,医院,420102,city_hospital,inpatient,04/03/2026,10.00,5.00", "visit_date"),
        ("S-1,H1,URRBMI,医院,420102,city_hospital,inpatient,2026-03-04,-1,0", "total"),
        ("S-1,H1,URRBMI,医院,420102,city_hospital,inpatient,2026-03-04,10.00,11.00", "fund_paid"),
        ("S-1,H1,URRBMI,医院,420102", "line"),
        # amounts by the settlement files' rules: no full-width or Arabic-Indic digits, no exponent,
        # no misplaced grouping, at most two decimals
        ("S-1,H1,URRBMI,医院,420102,city_hospital,inpatient,2026-03-04,１２.３０,5.00", "total"),
        ("S-1,H1,URRBMI,医院,420102,city_hospital,inpatient,2026-03-04,١٢,5.00", "total"),
        ("S-1,H1,URRBMI,医院,420102,city_hospital,inpatient,2026-03-04,1e3,5.00", "total"),
        ('S-1,H1,URRBMI,医院,420102,city_hospital,inpatient,2026-03-04,"1,23.06",5.00', "total"),
        ("S-1,H1,URRBMI,医院,420102,city_hospital,inpatient,2026-03-04,10.00,5.001", "fund_paid"),
        ("S-1,H1,URRBMI,医院,420102,city_hospital,inpatient,2026-03-04,NaN,5.00", "total"),
        ("S-1\x00,H1,URRBMI,医院,420102,city_hospital,inpatient,2026-03-04,10.00,5.00", "settlement_number"),
    ],
)
def test_a_bad_line_refuses_the_file_naming_row_and_field(chain, scheme, line, field):
    good = "S-0,H1,URRBMI,医院,420102,city_hospital,inpatient,2026-03-04,10.00,5.00"
    with pytest.raises(Invalid) as refused:
        land_out_of_county_file(office=chain["office"], upload=body(good, line), file_name="bad.csv", actor=SYSTEM)
    assert refused.value.errors["rows"] == [{"row": 3, "field": field, "reason": refused.value.errors["rows"][0]["reason"]}]
    assert not OutOfCountyFile.objects.exists() and not OutOfCountyVisit.objects.exists()


def test_bad_header_duplicates_and_encoding(chain, scheme):
    with pytest.raises(Invalid) as refused:
        land_out_of_county_file(office=chain["office"], upload=b"a,b\n1,2\n", file_name="x.csv", actor=SYSTEM)
    assert refused.value.errors["rows"][0]["field"] == "header"
    line = "S-1,H1,URRBMI,医院,420102,city_hospital,inpatient,2026-03-04,10.00,5.00"
    with pytest.raises(Invalid) as refused:
        land_out_of_county_file(office=chain["office"], upload=body(line, line), file_name="x.csv", actor=SYSTEM)
    assert refused.value.errors["rows"][0] == {
        "row": 3,
        "field": "settlement_number",
        "reason": refused.value.errors["rows"][0]["reason"],
    }
    with pytest.raises(Invalid) as refused:
        land_out_of_county_file(office=chain["office"], upload="医院".encode("gbk"), file_name="x.csv", actor=SYSTEM)
    assert refused.value.field == "file"


def test_only_the_office_itself_uploads(chain, scheme):
    with pytest.raises(NotPermitted):
        land_out_of_county_file(office=chain["office"], upload=body(), file_name="x.csv", actor=chain["staff"]["clerk"].user)


def test_upload_through_the_api(chain, scheme, office_api):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = body("S-9,H1,URRBMI,医院,420102,city_hospital,outpatient,2026-03-04,10.00,5.00")
    url = reverse("api-insurance-out-of-county")
    response = office_api.post(
        url, {"file": SimpleUploadedFile("v.csv", data, "text/csv")}, format="multipart", HTTP_IDEMPOTENCY_KEY="o1"
    )
    assert response.status_code == 201 and response.data["new_visits"] == 1
    bad = office_api.post(
        url, {"file": SimpleUploadedFile("v.csv", b"nope\n", "text/csv")}, format="multipart", HTTP_IDEMPOTENCY_KEY="o2"
    )
    assert bad.status_code == 400 and OutOfCountyVisit.objects.count() == 1


def test_a_line_break_inside_a_quoted_field_is_refused_and_rows_are_records_not_lines(chain, scheme):
    data = body(
        'S-1,H1,URRBMI,"武汉协和医院\n西院",420102,city_hospital,inpatient,2026-03-04,"1,800.00",900.00',
        "S-2,H1,URRBMI,医院,420102,city_hospital,inpatient,2026-03-04,10.00,",
    )
    with pytest.raises(Invalid) as refused:
        land_out_of_county_file(office=chain["office"], upload=data, file_name="m.csv", actor=SYSTEM)
    # the name spans two physical lines but is one record: the next record is 3, not 4
    assert [(e["row"], e["field"]) for e in refused.value.errors["rows"]] == [(2, "institution_name"), (3, "fund_paid")]


def test_an_oversized_file_is_refused_before_parsing(chain, scheme, monkeypatch):
    from consortium.errors import TooLarge
    from insurance import out_of_county

    monkeypatch.setattr(out_of_county, "MAX_BYTES", 100)
    with pytest.raises(TooLarge) as refused:
        land_out_of_county_file(office=chain["office"], upload=b"x" * 101, file_name="big.csv", actor=SYSTEM)
    assert refused.value.field == "file"


def test_the_officer_uploads_on_the_web_and_sees_bad_lines_by_record(chain, scheme, login):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = login(chain["staff"]["insurance"])
    url = reverse("insurance:out-of-county")
    page = client.get(url)
    assert page.status_code == 200 and HEADER in page.content.decode()
    bad = body("S-1,H1,URRBMI,医院,420102,city_hospital,inpatient,2026-03-04,1e3,5.00")
    response = client.post(url, {"file": SimpleUploadedFile("bad.csv", bad, "text/csv")}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert response.context["form"].errors["file"]
    assert [(e["row"], e["field"]) for e in response.context["row_errors"]] == [(2, "total")]
    assert 'id="row-errors"' in response.content.decode()
    assert not OutOfCountyFile.objects.exists()
    good = body('S-1,H1,URRBMI,医院,420102,city_hospital,inpatient,2026-03-04,"1,000.00",500.00')
    response = client.post(url, {"file": SimpleUploadedFile("good.csv", good, "text/csv")}, follow=True)
    assert response.redirect_chain[-1][0] == url
    assert OutOfCountyVisit.objects.get().total == 1000
    assert "good.csv" in response.content.decode()
    assert client.post(url, {}).status_code == 400  # no file: a form error on the field


def test_only_insurance_officers_open_the_upload_page(chain, login):
    for who in ("clerk", "consortium_admin", "coordinator"):
        assert login(chain["staff"][who]).get(reverse("insurance:out-of-county")).status_code == 403
