"""Money, ratios, periods and schemes as people read them (#14, item 11)."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation

from consortium.templatetags.display import file_kind, money, month_label, percent
from insurance.models import Claim

from .test_views import reconciled  # noqa: F401  (fixture)


def test_money_has_two_decimals_and_thousands_separators():
    assert money(Decimal("151.300000000000")) == "151.30"
    assert money(Decimal("1234567.005")) == "1,234,567.01"
    assert money("-2500") == "-2,500.00"
    assert money(None) == "—"


def test_ratios_are_percentages():
    assert percent(Decimal("0.5500")) == "55%"
    assert percent(Decimal("0.1025")) == "10.25%"
    assert percent(None) == "—"


def test_periods_and_file_types_are_words():
    with translation.override("zh-hans"):
        assert month_label("2026-03") == "2026年3月"
        assert file_kind("application/pdf") == "PDF 文档"
    with translation.override("en"):
        assert month_label("2026-03") == "March 2026"
        assert file_kind("image/png") == "PNG image"


@pytest.mark.django_db
def test_claims_and_reconciliation_pages_show_people_and_amounts_in_words(chain, login, reconciled):  # noqa: F811
    client = login(chain["staff"]["clerk"])
    claims = client.get(reverse("insurance:claim-list")).content.decode()
    claim = Claim.objects.select_related("patient").first()
    assert claim.patient.name in claims
    assert "城乡居民基本医疗保险" in claims and ">URRBMI<" not in claims
    assert "2026年3月" in claims
    detail = client.get(reverse("insurance:reconciliation-detail", args=[reconciled.pk])).content.decode()
    amounts = re.findall(r"<td>(-?[\d,]+\.\d+)</td>", detail)
    assert amounts and all(re.fullmatch(r"-?\d{1,3}(,\d{3})*\.\d{2}", a) for a in amounts)
    assert "2026年3月" in detail
