"""The printed diagnostic report carries a verification code; an amendment makes the old printout read "changed"."""

import pytest

from diagnostics.models import OrderStatus
from tests.documents import verdict, verification_link

pytestmark = pytest.mark.django_db


def test_the_report_prints_and_an_amendment_changes_it(setting, client):
    order = setting.order_in(OrderStatus.FINAL)
    client.force_login(setting.clinician)
    page = client.get(f"/diagnostics/orders/{order.pk}/print/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    for text in (order.accession, order.patient.name, "双肺纹理增粗", "<svg", order.centre.institution.name):
        assert text in page, text
    link = verification_link(page)
    result, public = verdict(link)
    assert result == "valid" and order.patient.name not in public and "双肺" not in public
    setting.take(order, "amend")
    result, public = verdict(link)
    assert result == "changed" and "printed 1, current 2" in public
