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
