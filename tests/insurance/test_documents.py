"""The claim statement as a final printed document: header, amounts, signature lines and a verification code."""

import pytest
from django.urls import reverse

from consortium.permissions import SYSTEM
from insurance import services
from insurance.models import Claim, ClaimStatus
from tests.documents import verdict, verification_link

pytestmark = pytest.mark.django_db


def test_the_statement_prints_final_and_verifies_until_the_claim_is_rejected(chain, login, visit):
    claim = services.create_claim(encounter=visit(items=(("A", "200.00"), ("B", "300.00"), ("C", "50.00"))), actor=SYSTEM)
    client = login(chain["staff"]["clerk"])
    detail = client.get(reverse("insurance:claim-detail", args=[claim.number])).content.decode()
    assert reverse("insurance:claim-statement", args=[claim.number]) in detail
    page = client.get(reverse("insurance:claim-statement", args=[claim.number])).content.decode()
    for text in (
        "医保报销结算单",
        chain["township"].name,
        claim.number,
        claim.patient.name,
        "314.50",
        "235.50",
        "收费员",
        "<svg",
    ):
        assert text in page, text
    assert "草稿" not in page and "Draft" not in page
    link = verification_link(page)
    result, public = verdict(link, "zh-hans")
    assert result == "valid" and claim.patient.name not in public and "314.50" not in public
    Claim.objects.filter(pk=claim.pk).update(status=ClaimStatus.REJECTED)
    assert verdict(link)[0] == "changed"


def test_another_institution_cannot_print_the_statement(chain, login, visit):
    claim = services.create_claim(encounter=visit(), actor=SYSTEM)
    assert login(chain["staff"]["outsider"]).get(reverse("insurance:claim-statement", args=[claim.number])).status_code == 404
