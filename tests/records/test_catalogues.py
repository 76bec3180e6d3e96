"""Drug and service item catalogues: the shipped data, CSV import with a per-row report, search, the visit form (#14, item 6)."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from consortium.errors import NotPermitted
from records import catalogues
from records.models import CatalogueEntry, CatalogueImport, CatalogueKind

pytestmark = pytest.mark.django_db

HEADER = "code,name,specification,dosage_form,unit,unit_price,insurance_class\n"


def test_the_shipped_catalogues_load_once_with_national_style_codes():
    reports = catalogues.load_shipped()
    assert sum(r.created for r in reports) >= 300
    drugs = CatalogueEntry.objects.filter(kind=CatalogueKind.DRUG)
    items = CatalogueEntry.objects.filter(kind=CatalogueKind.SERVICE)
    assert drugs.count() >= 200 and items.count() >= 100
    assert all(len(code) == 23 and code[0] in "XZ" for code in drugs.values_list("code", flat=True))
    assert all(len(code) == 15 and code.isdigit() for code in items.values_list("code", flat=True))
    assert set(drugs.values_list("insurance_class", flat=True)) == {"A", "B", "C"}
    aspirin = drugs.get(name="阿司匹林肠溶片")
    assert (aspirin.initials, aspirin.unit_price, aspirin.specification) == ("asplcrp", Decimal("1.86"), "100mg*30片")
    assert sum(r.created + r.updated for r in catalogues.load_shipped()) == 0, "loading again changes nothing"


def test_search_by_name_initials_and_code():
    catalogues.load_shipped()
    assert "阿司匹林肠溶片" in [e.name for e in catalogues.search("drug", "asp")]
    assert "阿司匹林肠溶片" in [e.name for e in catalogues.search("drug", "阿司匹林")]
    assert [e.name for e in catalogues.search("service", "001102000010000")] == ["普通门诊诊查费"]
    assert "普通门诊诊查费" in [e.name for e in catalogues.search(None, "ptmz")]
    assert catalogues.search("drug", "") == []


def test_a_file_with_bad_rows_is_refused_whole_with_every_row_named(chain):
    catalogues.load_shipped("drug")
    before = list(CatalogueEntry.objects.order_by("pk").values_list("code", "unit_price", "is_active"))
    imports = CatalogueImport.objects.count()
    content = HEADER + (
        "XA01AAA001A001001010001,新药甲,10mg*10片,片,盒,3.50,甲\n"
        ",无编码药,,片,盒,1.00,甲\n"
        "XA01AAA001A001001010002,价格错,,片,盒,1.234,乙\n"
        "XA01AAA001A001001010003,类别错,,片,盒,1.00,丁\n"
        "XA01AAA001A001001010001,重复,,片,盒,1.00,丙\n"
    )
    with pytest.raises(catalogues.CatalogueImportError) as error:
        catalogues.import_catalogue(actor=chain["staff"]["consortium_admin"].user, kind="drug", content=content.encode())
    assert [(n, f) for n, f, _m in error.value.rows] == [(2, "code"), (3, "unit_price"), (4, "insurance_class"), (5, "code")]
    assert list(CatalogueEntry.objects.order_by("pk").values_list("code", "unit_price", "is_active")) == before
    assert CatalogueImport.objects.count() == imports


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name,unit_price\n", "code"),
        (HEADER.replace("insurance_class\n", "insurance_class,colour\n").encode(), "colour"),
        ("code,name,unit_price,insurance_class\n".encode("gbk") + "阿司匹林,药".encode("gbk"), "UTF-8"),
        (HEADER.encode(), ""),
    ],
)
def test_a_broken_file_is_named(chain, content, message):
    with pytest.raises(catalogues.CatalogueImportError) as error:
        catalogues.import_catalogue(actor=chain["staff"]["consortium_admin"].user, kind="drug", content=content)
    assert message in str(error.value.message)


def test_replace_updates_adds_and_withdraws(chain):
    admin = chain["staff"]["consortium_admin"].user
    catalogues.load_shipped("service")
    content = (
        "code,name,unit,unit_price,insurance_class,category\n"
        "001102000010000,普通门诊诊查费,次,12.00,甲,consultation\n"
        "009999990010000,家庭医生上门服务,次,30,乙,treatment\n"
    )
    report = catalogues.import_catalogue(actor=admin, kind="service", content=content.encode(), replace=True)
    assert (report.created, report.updated, report.unchanged) == (1, 1, 0)
    assert report.deactivated == CatalogueEntry.objects.filter(kind="service", is_active=False).count() > 100
    assert CatalogueEntry.objects.get(kind="service", code="001102000010000").unit_price == Decimal("12.00")
    assert catalogues.search("service", "挂号费") == [], "withdrawn entries are not offered"
    assert CatalogueImport.objects.first().replace is True


def test_only_the_consortium_administrator_imports(chain):
    with pytest.raises(NotPermitted):
        catalogues.import_catalogue(actor=chain["staff"]["clinician"].user, kind="drug", content=HEADER.encode())


def test_the_catalogue_page_shows_the_report_and_loads(chain, login):
    client = login(chain["staff"]["consortium_admin"])
    url = reverse("records:catalogues")
    bad = HEADER + "XA01AAA001A001001010001,新药,,片,盒,abc,甲\n"
    response = client.post(url, {"kind": "drug", "file": SimpleUploadedFile("d.csv", bad.encode())})
    assert response.status_code == 400
    assert response.context["problems"] == [(1, "unit_price", response.context["problems"][0][2])]
    assert 'id="catalogue-problems"' in response.content.decode()
    good = HEADER + "XA01AAA001A001001010001,新药,,片,盒,3.5,甲\n"
    response = client.post(url, {"kind": "drug", "file": SimpleUploadedFile("d.csv", good.encode())})
    assert response.status_code == 302
    assert CatalogueEntry.objects.get(code="XA01AAA001A001001010001").unit_price == Decimal("3.50")
    assert login(chain["staff"]["clinician"]).get(url).status_code == 403


def test_the_search_fragment_fills_price_and_class(chain, login):
    catalogues.load_shipped()
    client = login(chain["staff"]["clinician"])
    response = client.get(reverse("records:catalogue-search"), {"kind": "drug", "rx-0-drug_name": "asplcrp"})
    html = response.content.decode()
    assert 'value="阿司匹林肠溶片 100mg*30片"' in html and 'data-price="1.86"' in html and 'data-class="A"' in html
    response = client.get(reverse("records:catalogue-search"), {"kind": "", "charges-0-name": "诊查费"})
    assert 'data-category="consultation"' in response.content.decode()


def test_the_visit_form_searches_the_catalogue(chain, login):
    from tests.factories import PatientFactory

    patient = PatientFactory(home_institution=chain["township"])
    page = login(chain["staff"]["clinician"]).get(reverse("records:encounter-create", args=[patient.pk])).content.decode()
    assert 'id="drug-options"' in page and 'id="item-options"' in page
    assert f'hx-get="{reverse("records:catalogue-search")}"' in page and "records/catalogue.js" in page


def test_the_management_command_names_bad_rows(tmp_path):
    bad = tmp_path / "drugs.csv"
    bad.write_text(HEADER + "XA01AAA001A001001010001,新药,,片,盒,-1,甲\n", encoding="utf-8")
    with pytest.raises(Exception, match="record 1, unit_price"):
        call_command("load_catalogues", kind="drug", file=bad)
    call_command("load_catalogues")
    assert CatalogueEntry.objects.count() >= 300
