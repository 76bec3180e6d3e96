"""Printed documents' verification links (consortium/documents.py): signed, checked against the record, public page masked."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from consortium import documents
from consortium.documents import Document, Verdict

pytestmark = pytest.mark.django_db


class Records:
    """A stand-in app's records: number → document as the record holds it now."""

    def __init__(self):
        self.rows = {}

    def load(self, number):
        return self.rows.get(number)


@pytest.fixture
def records(monkeypatch):
    store = Records()
    monkeypatch.setitem(documents._KINDS, "test-form", documents.DocumentKind("test-form", "Test form", store.load))
    store.rows["T1"] = Document(
        kind="test-form",
        number="T1",
        version=1,
        fields={"amount": "12.30", "to": "市中心医院"},
        holder_name="张三丰",
        institution="鸣凤镇卫生院",
    )
    return store


def _parts(path):
    query = parse_qs(urlsplit(path).query)
    return query["v"][0], query["f"][0], query["s"][0]


def test_an_unchanged_record_verifies(records):
    v, f, s = _parts(documents.verification_path(records.rows["T1"]))
    result = documents.verify("test-form", "T1", v, f, s)
    assert result.verdict == Verdict.VALID and result.masked_name == "张*丰" and result.institution == "鸣凤镇卫生院"


def test_a_record_changed_after_printing_reads_changed(records):
    v, f, s = _parts(documents.verification_path(records.rows["T1"]))
    old = records.rows["T1"]
    records.rows["T1"] = Document(**{**old.__dict__, "fields": {**old.fields, "amount": "99.00"}})
    assert documents.verify("test-form", "T1", v, f, s).verdict == Verdict.CHANGED
    records.rows["T1"] = Document(**{**old.__dict__, "version": 2})
    assert documents.verify("test-form", "T1", v, f, s).verdict == Verdict.CHANGED


@pytest.mark.parametrize("tamper", ["signature", "fingerprint", "version", "number", "kind"])
def test_a_tampered_link_is_unknown(records, tamper):
    v, f, s = _parts(documents.verification_path(records.rows["T1"]))
    kind, number = "test-form", "T1"
    records.rows["T2"] = Document(**{**records.rows["T1"].__dict__, "number": "T2"})
    if tamper == "signature":
        s = ("0" if s[0] != "0" else "1") + s[1:]
    elif tamper == "fingerprint":
        f = ("0" if f[0] != "0" else "1") + f[1:]
    elif tamper == "version":
        v = "2"
    elif tamper == "number":
        number = "T2"
    else:
        kind = "referral"
    result = documents.verify(kind, number, v, f, s)
    assert result.verdict == Verdict.UNKNOWN and result.masked_name == "" and result.institution == ""


def test_a_link_signed_with_another_key_is_unknown(records, settings):
    settings.DOCUMENT_SIGNING_KEY = "another-key-" + "x" * 40
    v, f, s = _parts(documents.verification_path(records.rows["T1"]))
    settings.DOCUMENT_SIGNING_KEY = "the-real-key-" + "y" * 40
    assert documents.verify("test-form", "T1", v, f, s).verdict == Verdict.UNKNOWN


def test_the_key_is_not_the_secret_key_and_is_required(records, settings):
    assert settings.DOCUMENT_SIGNING_KEY and settings.DOCUMENT_SIGNING_KEY != settings.SECRET_KEY
    settings.DOCUMENT_SIGNING_KEY = ""
    with pytest.raises(ImproperlyConfigured, match="DOCUMENT_SIGNING_KEY"):
        documents.verification_path(records.rows["T1"])


def test_a_removed_record_is_unknown(records):
    v, f, s = _parts(documents.verification_path(records.rows["T1"]))
    del records.rows["T1"]
    assert documents.verify("test-form", "T1", v, f, s).verdict == Verdict.UNKNOWN


@pytest.mark.parametrize(
    ("name", "masked"), [("张三丰", "张*丰"), ("李四", "李*"), ("欧阳小明", "欧**明"), ("Wang Fang", "W*** F***"), ("", "")]
)
def test_names_are_masked(name, masked):
    assert documents.mask_name(name) == masked


@pytest.mark.parametrize(("language", "word"), [("zh-hans", "有效"), ("en", "Valid")])
def test_the_public_page_needs_no_sign_in_and_shows_only_the_masked_name(records, client, language, word):
    path = documents.verification_path(records.rows["T1"])
    response = client.get(path, HTTP_ACCEPT_LANGUAGE=language)
    page = response.content.decode()
    assert response.status_code == 200 and 'data-verdict="valid"' in page and word in page
    assert "张*丰" in page and "张三丰" not in page and "12.30" not in page
    tampered = path.replace("s=", "s=0")
    page = client.get(tampered, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert 'data-verdict="unknown"' in page and "张" not in page and "鸣凤镇卫生院" not in page


def test_the_qr_code_is_an_inline_svg_without_style(records, rf):
    request = rf.get("/")
    context = documents.print_context(request, records.rows["T1"])
    svg = str(context["verification_qr"])
    assert svg.startswith("<svg") and "<path" in svg and "style" not in svg and "<script" not in svg
    assert context["verification_url"].startswith("http://testserver" + reverse("verify-document", args=["test-form", "T1"]))


def test_the_public_address_can_be_configured(records, rf, settings):
    settings.DOCUMENT_VERIFY_BASE_URL = "https://consortium.example.org/"
    url = documents.verification_url(rf.get("/"), records.rows["T1"])
    assert url.startswith("https://consortium.example.org/verify/test-form/T1/?v=1&f=")
