import datetime
import os

import pytest
from django.core.cache import cache
from django.utils import timezone

from consortium.models import InstitutionLevel, MembershipRole, StaffRole

from .factories import (
    ConsortiumFactory,
    InstitutionFactory,
    InsuranceOfficeFactory,
    MembershipFactory,
    PatientFactory,
    StaffFactory,
)

# The tests' HTTP receivers listen on 127.0.0.1: name it explicitly as a development host, for this
# process and the worker processes it starts (sync/destinations.py); every other internal address
# stays refused.  A run can give its own list in the environment.
os.environ.setdefault("SYNC_DEVELOPMENT_HOSTS", "127.0.0.1")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with an empty cache (rolled-back rows may have left entries behind)."""
    cache.clear()


@pytest.fixture
def chain(db):
    """A small sharing chain: a city hospital (lead), a township centre with a village clinic,
    and an outsider township that belongs to no consortium."""
    consortium = ConsortiumFactory(name="测试医联体")
    city = InstitutionFactory(
        code="CITY", name="市中心医院", level=InstitutionLevel.CITY_HOSPITAL, is_rural=False, region_code="420502"
    )
    township = InstitutionFactory(code="TOWN", name="鸣凤镇卫生院", region_code="420525")
    village = InstitutionFactory(code="VIL", name="凤阳村卫生室", level=InstitutionLevel.VILLAGE_CLINIC, parent=township)
    outsider = InstitutionFactory(code="OUT", name="外地卫生院", region_code="360722")
    for institution, role in ((city, MembershipRole.LEAD), (township, MembershipRole.MEMBER), (village, MembershipRole.MEMBER)):
        MembershipFactory(consortium=consortium, institution=institution, role=role)
    office = InsuranceOfficeFactory(region_code="420500")
    staff = {
        "clinician": StaffFactory(user__username="clinician", institution=township, role=StaffRole.CLINIC_CLINICIAN),
        "clerk": StaffFactory(user__username="clerk", institution=township, role=StaffRole.CLINIC_CLERK),
        "coordinator": StaffFactory(user__username="coordinator", institution=city, role=StaffRole.REFERRAL_COORDINATOR),
        "hospital_admin": StaffFactory(user__username="hadmin", institution=city, role=StaffRole.HOSPITAL_ADMINISTRATOR),
        "insurance": StaffFactory(
            user__username="insurer", institution=None, insurance_office=office, role=StaffRole.INSURANCE_OFFICER
        ),
        "consortium_admin": StaffFactory(
            user__username="cadmin", institution=None, consortium=consortium, role=StaffRole.CONSORTIUM_ADMINISTRATOR
        ),
        "outsider": StaffFactory(user__username="outsider", institution=outsider, role=StaffRole.CLINIC_CLINICIAN),
    }
    return {
        "consortium": consortium,
        "city": city,
        "township": township,
        "village": village,
        "outsider": outsider,
        "office": office,
        "staff": staff,
    }


@pytest.fixture
def login(client):
    """Log the test client in as a staff member's user."""

    def _login(staff):
        client.force_login(staff.user)
        return client

    return _login


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def yesterday():
    return timezone.localdate() - datetime.timedelta(days=1)


@pytest.fixture
def full_record(chain, now):
    """A township patient with one visit carrying every part: diagnoses, a prescription, observations, charges."""
    from decimal import Decimal

    from records.services import EncounterInput, record_encounter

    patient = PatientFactory(home_institution=chain["township"], full_identity=True)
    data = EncounterInput(
        kind="outpatient",
        started_at=now,
        chief_complaint="多饮多尿一月",
        external_id="HIS-0001",
        diagnoses=[{"code": "E11.9", "is_primary": True}, {"code": "I10"}],
        prescriptions=[{"drug_name": "二甲双胍片", "drug_code": "MET", "dose": "0.5g", "frequency": "tid", "days": 30}],
        observations=[
            {
                "kind": "lab",
                "code": "GLU",
                "name": "空腹血糖",
                "value": Decimal("8.2"),
                "unit": "mmol/L",
                "reference_low": Decimal("3.9"),
                "reference_high": Decimal("6.1"),
            },
            {"kind": "vital", "code": "SBP", "name": "收缩压", "value": Decimal("150"), "unit": "mmHg"},
        ],
        charge_items=[
            {
                "item_code": "MET",
                "name": "二甲双胍片",
                "category": "drug",
                "catalogue_class": "A",
                "quantity": Decimal("3"),
                "unit_price": Decimal("12.35"),
            },
            {
                "item_code": "LAB-GLU",
                "name": "血糖测定",
                "category": "laboratory",
                "catalogue_class": "B",
                "quantity": Decimal("1"),
                "unit_price": Decimal("8.00"),
            },
        ],
    )
    record_encounter(actor=chain["staff"]["clinician"].user, institution=chain["township"], patient=patient, data=data)
    return patient


from .live import browser, celery_worker_process, page  # noqa: E402,F401  (fixtures)
from .storage import file_storage, s3_server  # noqa: E402,F401  (fixtures)
