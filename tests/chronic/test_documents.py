"""The family-doctor contract printed with a verification code; ending it makes the printout read "changed"."""

import datetime

import pytest

from chronic import services
from tests.documents import verdict, verification_link

pytestmark = pytest.mark.django_db


def test_the_contract_prints_and_verifies_until_it_ends(chronic, client, today):
    holder = chronic.patient(None, name="王秀英")
    contract = services.sign_contract(
        actor=chronic.village_doctor,
        team=chronic.team,
        holder=holder,
        package="basic",
        starts_on=today,
        ends_on=today + datetime.timedelta(days=365),
        signature_method="handwritten",
    )
    client.force_login(chronic.village_doctor)
    assert f"/chronic/contracts/{contract.pk}/print/" in client.get(f"/chronic/contracts/{contract.pk}/").content.decode()
    page = client.get(f"/chronic/contracts/{contract.pk}/print/").content.decode()
    for text in ("家庭医生签约服务协议", "王秀英", chronic.team.name, "居民（甲方）", "<svg", f"-{contract.pk}"):
        assert text in page, text
    assert holder.resident_id not in page
    link = verification_link(page)
    result, public = verdict(link)
    assert result == "valid" and "王*英" in public and "王秀英" not in public
    services.end_contract(contract.pk, actor=chronic.village_doctor, reason="迁出本村")
    assert verdict(link)[0] == "changed"
    client.force_login(chronic.staff["other_village_doctor"].user)
    assert client.get(f"/chronic/contracts/{contract.pk}/print/").status_code == 404
