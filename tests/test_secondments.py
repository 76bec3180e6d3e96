"""Seconded physicians: recorded and ended by the consortium administrator through the audited service,
refused with the field named for bad input, counted by the dashboard in each month they cover."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from consortium.errors import Conflict, Invalid, NotPermitted
from consortium.models import AuditEvent, Secondment
from consortium.secondment_services import end_secondment, record_secondment
from dashboard import rollups

pytestmark = pytest.mark.django_db
D = datetime.date


def _record(chain, actor, **changes):
    values = {
        "physician_name": "王建华",
        "specialty": "心血管内科",
        "from_institution": chain["city"],
        "to_institution": chain["township"],
        "starts_on": D(2026, 9, 1),
        "ends_on": D(2026, 11, 30),
        **changes,
    }
    return record_secondment(actor=actor, **values)


def test_the_administrator_records_and_ends_a_secondment(chain):
    admin = chain["staff"]["consortium_admin"].user
    secondment = _record(chain, admin, ends_on=None)
    assert secondment.consortium == chain["consortium"]
    assert AuditEvent.objects.filter(action="consortium.secondment_recorded").count() == 1
    end_secondment(actor=admin, secondment=secondment, ends_on=D(2026, 10, 15))
    secondment.refresh_from_db()
    assert secondment.ends_on == D(2026, 10, 15)
    with pytest.raises(Conflict):
        end_secondment(actor=admin, secondment=secondment, ends_on=D(2026, 10, 20))
    assert "王建华" not in str(list(AuditEvent.objects.values_list("detail", flat=True)))  # no name in the audit detail


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"physician_name": "  "}, "physician_name"),
        ({"from_institution": "township"}, "from_institution"),
        ({"to_institution": "city"}, "to_institution"),
        ({"to_institution": "outsider"}, "to_institution"),
        ({"ends_on": D(2026, 8, 31)}, "ends_on"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(chain, changes, field):
    changes = {k: chain[v] if k.endswith("institution") else v for k, v in changes.items()}
    with pytest.raises((Invalid, NotPermitted)) as refused:
        _record(chain, chain["staff"]["consortium_admin"].user, **changes)
    if isinstance(refused.value, Invalid):
        assert field in refused.value.errors
    assert not Secondment.objects.exists()


def test_an_overlapping_secondment_of_the_same_physician_is_a_conflict(chain):
    admin = chain["staff"]["consortium_admin"].user
    _record(chain, admin)
    with pytest.raises(Conflict):
        _record(chain, admin, to_institution=chain["village"], starts_on=D(2026, 11, 1), ends_on=None)
    _record(chain, admin, starts_on=D(2026, 12, 1), ends_on=None)  # after the first ended: fine
    assert Secondment.objects.count() == 2


def test_only_the_consortium_administrator_records(chain):
    for who in ("clerk", "coordinator", "hospital_admin", "insurance"):
        with pytest.raises(NotPermitted):
            _record(chain, chain["staff"][who].user)


def test_the_roll_up_counts_each_month_a_secondment_covers(chain):
    admin = chain["staff"]["consortium_admin"].user
    _record(chain, admin, starts_on=D(2026, 9, 20), ends_on=D(2026, 10, 3))  # September and October
    _record(chain, admin, physician_name="李秀英", to_institution=chain["village"], starts_on=D(2026, 10, 1), ends_on=None)
    results = rollups.compute(D(2026, 8, 1), D(2026, 11, 1), today=D(2026, 11, 15))

    def at(scope, scope_id, month):
        row = results.get(("seconded_physicians", scope, scope_id, month))
        return row and row["value"]

    c, town, village = chain["consortium"].pk, chain["township"].pk, chain["village"].pk
    assert at("consortium", c, D(2026, 8, 1)) is None
    assert at("consortium", c, D(2026, 9, 1)) == Decimal("1.0000")
    assert at("consortium", c, D(2026, 10, 1)) == Decimal("2.0000")
    assert at("consortium", c, D(2026, 11, 1)) == Decimal("1.0000")  # the first ended on 3 October
    assert at("institution", village, D(2026, 10, 1)) == Decimal("1.0000")
    assert at("township", town, D(2026, 10, 1)) == Decimal("2.0000")  # the village clinic is under the township


def test_the_page_records_with_form_errors_and_is_closed_to_clinic_staff(chain, login):
    client = login(chain["staff"]["consortium_admin"])
    url = reverse("secondment-list")
    assert client.get(url).status_code == 200
    bad = client.post(url, {"physician_name": "王建华", "from_institution": chain["city"].pk, "starts_on": "2026-09-01"})
    assert bad.status_code == 400 and "to_institution" in bad.context["form"].errors
    good = {
        "physician_name": "王建华",
        "specialty": "心血管内科",
        "from_institution": chain["city"].pk,
        "to_institution": chain["township"].pk,
        "starts_on": "2026-09-01",
    }
    response = client.post(url, good, follow=True)
    assert response.status_code == 200 and "王建华" in response.content.decode()
    secondment = Secondment.objects.get()
    client.post(reverse("secondment-end", args=[secondment.pk]))
    secondment.refresh_from_db()
    assert secondment.ends_on is not None
    clerk = login(chain["staff"]["clerk"])
    assert clerk.get(url).status_code == 403
