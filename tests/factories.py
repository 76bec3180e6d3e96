"""Factories for test data: valid by default, every field overridable."""

import datetime
import itertools
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from consortium.models import (
    Consortium,
    Department,
    Institution,
    InstitutionLevel,
    InsuranceOffice,
    Membership,
    MembershipRole,
    Staff,
    StaffRole,
)
from records import resident_id
from records.models import ChargeItem, Diagnosis, Encounter, Patient

TEST_PASSWORD = "correct-horse-battery-staple"
_sequence = itertools.count(1)


class InstitutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Institution

    code = factory.Sequence(lambda n: f"T{n:05d}")
    name = factory.Sequence(lambda n: f"测试卫生院{n}")
    level = InstitutionLevel.TOWNSHIP_HEALTH_CENTRE
    region_code = "420525"
    is_rural = True


class ConsortiumFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Consortium

    code = factory.Sequence(lambda n: f"C{n:03d}")
    name = factory.Sequence(lambda n: f"测试医联体{n}")
    region_code = "420500"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    consortium = factory.SubFactory(ConsortiumFactory)
    institution = factory.SubFactory(InstitutionFactory)
    role = MembershipRole.MEMBER
    agreement_start = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=365))


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department

    institution = factory.SubFactory(InstitutionFactory)
    code = factory.Sequence(lambda n: f"D{n:03d}")
    name = factory.Sequence(lambda n: f"科室{n}")


class InsuranceOfficeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InsuranceOffice

    code = factory.Sequence(lambda n: f"YB{n:03d}")
    name = factory.Sequence(lambda n: f"医保经办中心{n}")
    region_code = "420500"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password(TEST_PASSWORD)


class StaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Staff

    user = factory.SubFactory(UserFactory)
    role = StaffRole.CLINIC_CLINICIAN
    institution = factory.SubFactory(InstitutionFactory)
    display_name = factory.Sequence(lambda n: f"员工{n}")


def make_resident_id(birth_date=datetime.date(1968, 5, 17), sex="M", region="420525") -> str:
    """A fresh valid resident ID: the birth date shifts by a day per call so numbers never clash."""
    n = next(_sequence)
    day = birth_date + datetime.timedelta(days=n // 100)
    return resident_id.build(region, day, n % 100, sex)


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    home_institution = factory.SubFactory(InstitutionFactory)
    name = "张三"
    name_pinyin = "zhang san"
    sex = "M"
    resident_id = factory.LazyAttribute(lambda o: make_resident_id(sex=o.sex))
    birth_date = factory.LazyAttribute(lambda o: resident_id.parse(o.resident_id).birth_date)

    class Params:
        # Every field a FHIR Patient carries (phone, village, insurance number too): the record the exchange tests send.
        full_identity = factory.Trait(
            name="孙桂兰",
            name_pinyin="sun gui lan",
            sex="F",
            phone="13912345678",
            village="凤阳村",
            insurance_number="YB420525001",
        )


class EncounterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Encounter

    patient = factory.SubFactory(PatientFactory)
    institution = factory.LazyAttribute(lambda o: o.patient.home_institution)
    started_at = factory.LazyFunction(timezone.now)
    chief_complaint = "咳嗽三天"


class DiagnosisFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Diagnosis

    encounter = factory.SubFactory(EncounterFactory)
    code = "J06.9"
    description = "急性上呼吸道感染"
    is_primary = True


class ChargeItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChargeItem

    encounter = factory.SubFactory(EncounterFactory)
    item_code = "XJ01"
    name = "阿莫西林胶囊"
    category = "drug"
    catalogue_class = "A"
    quantity = Decimal("2")
    unit_price = Decimal("12.50")
    amount = factory.LazyAttribute(lambda o: (o.quantity * o.unit_price).quantize(Decimal("0.01")))
