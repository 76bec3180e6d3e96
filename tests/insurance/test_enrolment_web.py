"""Enrolment on the web for the clinic clerk and the eligibility panel on the patient page (#14, item 4)."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from consortium.errors import Conflict, Invalid
from insurance import enrolment
from insurance.models import Enrolment
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def _data(scheme, **changes):
    data = {
        "scheme": scheme.pk,
        "year": timezone.localdate().year,
        "insurance_number": "4205250012345678",
        "household_number": "420525-0088",
        "premium_paid": "380.00",
        "premium_paid_on": timezone.localdate().isoformat(),
        "assistance_group": "",
    }
    return data | changes


def test_the_clerk_enrols_a_patient_and_the_patient_page_shows_it(chain, scheme, login):
    patient = PatientFactory(home_institution=chain["township"], insurance_number="")
    client = login(chain["staff"]["clerk"])
    page = client.get(reverse("records:patient-detail", args=[patient.pk])).content.decode()
    assert 'id="panel-eligibility"' in page and reverse("insurance:enrol", args=[patient.pk]) in page
    response = client.post(reverse("insurance:enrol", args=[patient.pk]), _data(scheme))
    assert response.status_code == 302
    item = Enrolment.objects.get(patient=patient)
    assert (item.household_number, item.premium_paid, item.enrolled_by) == (
        "420525-0088",
        Decimal("380.00"),
        chain["staff"]["clerk"].user,
    )
    patient.refresh_from_db()
    assert patient.insurance_number == "4205250012345678"
    page = client.get(reverse("records:patient-detail", args=[patient.pk])).content.decode()
    assert "420525-0088" in page and "380.00" in page
    assert "城乡居民基本医疗保险" in page, "the scheme by its translated name, not URRBMI"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"insurance_number": "12-34"}, "insurance_number"),
        ({"premium_paid": "-1"}, "premium_paid"),
        ({"premium_paid": "1.234"}, "premium_paid"),
        ({"premium_paid_on": (timezone.localdate() + datetime.timedelta(days=3)).isoformat()}, "premium_paid_on"),
        ({"household_number": "户 1"}, "household_number"),
        ({"year": str(timezone.localdate().year - 3)}, "year"),
    ],
)
def test_bad_input_is_a_form_error_on_its_field(chain, scheme, login, changes, field):
    patient = PatientFactory(home_institution=chain["township"], insurance_number="")
    response = login(chain["staff"]["clerk"]).post(reverse("insurance:enrol", args=[patient.pk]), _data(scheme, **changes))
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert not Enrolment.objects.filter(patient=patient).exists()


def test_the_service_checks_what_the_admin_checks(chain, scheme):
    clerk = chain["staff"]["clerk"].user
    patient = PatientFactory(home_institution=chain["township"], insurance_number="")
    other = PatientFactory(home_institution=chain["township"], insurance_number="OTHER000001")
    year = timezone.localdate().year
    args = {"actor": clerk, "scheme": scheme, "year": year, "premium_paid": Decimal("380")}
    with pytest.raises(Conflict) as error:
        enrolment.enrol_patient(patient=patient, insurance_number=other.insurance_number, **args)
    assert error.value.field == "insurance_number"
    enrolment.enrol_patient(patient=patient, insurance_number="NEW0000001", **args)
    with pytest.raises(Conflict) as error:
        enrolment.enrol_patient(patient=patient, insurance_number="NEW0000001", **args)
    assert error.value.field == "year"
    with pytest.raises(Invalid) as error:
        enrolment.enrol_patient(patient=patient, insurance_number="DIFFERENT01", **{**args, "year": year + 1})
    assert error.value.field == "insurance_number", "the patient's own number must match"
    assert Enrolment.objects.filter(patient=patient).count() == 1


def test_only_the_home_clinic_enrols(chain, scheme, login):
    patient = PatientFactory(home_institution=chain["township"], insurance_number="")
    outsider = chain["staff"]["outsider"]
    assert login(outsider).post(reverse("insurance:enrol", args=[patient.pk]), _data(scheme)).status_code == 404
    assert not Enrolment.objects.exists()


def test_eligibility_without_a_policy_in_force_is_said(chain, scheme, policy):
    patient = PatientFactory(home_institution=chain["township"], insurance_number="")
    assert enrolment.eligibility(patient, 2026).enrolment is None
    Enrolment.objects.create(patient=patient, scheme=scheme, year=2026, insurance_number="X00000001")
    assert enrolment.eligibility(patient, 2026).covered
    Enrolment.objects.create(patient=patient, scheme=scheme, year=2027, insurance_number="X00000001")
    assert not enrolment.eligibility(patient, 2027).covered
