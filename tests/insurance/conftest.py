import datetime
import zoneinfo
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from consortium.models import ApiClient, ApiClientKind, InstitutionLevel
from consortium.permissions import SYSTEM
from insurance import services
from insurance.models import Claim, ClaimStatus, Enrolment, OfficeScheme, Policy, PolicyLevelRule, Scheme
from insurance.reason_codes import ensure_platform_reason_codes
from tests.factories import ChargeItemFactory, EncounterFactory, PatientFactory

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
YEAR = 2026
D = Decimal

LEVEL_TERMS = {
    InstitutionLevel.VILLAGE_CLINIC: ("0", "0.90", "0.90"),
    InstitutionLevel.TOWNSHIP_HEALTH_CENTRE: ("100", "0.85", "0.85"),
    InstitutionLevel.COUNTY_HOSPITAL: ("400", "0.75", "0.60"),
    InstitutionLevel.CITY_HOSPITAL: ("800", "0.55", "0.40"),
}


def at(month=3, day=10, hour=10):
    return datetime.datetime(YEAR, month, day, hour, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def reason_codes(request):
    """The platform's reason codes, as migrated (a transactional test's flush elsewhere removes them)."""
    if request.node.get_closest_marker("django_db") is None:
        if "transactional_db" in request.fixturenames:
            request.getfixturevalue("transactional_db")
        elif "db" in request.fixturenames:
            request.getfixturevalue("db")
        else:
            return
    ensure_platform_reason_codes()


@pytest.fixture
def scheme(db):
    return Scheme.objects.get_or_create(code="URRBMI", defaults={"name": "城乡居民基本医疗保险"})[0]


@pytest.fixture
def policy(scheme):
    policy = Policy.objects.create(scheme=scheme, year=YEAR, class_b_self_pay_share=D("0.10"))
    for level, (deductible, ratio, unreferred) in LEVEL_TERMS.items():
        PolicyLevelRule.objects.create(
            policy=policy,
            level=level,
            deductible=D(deductible),
            ratio=D(ratio),
            unreferred_ratio=D(unreferred),
            annual_ceiling=D("100000"),
        )
    return services.publish_policy(policy=policy, actor=SYSTEM)


@pytest.fixture
def enrol(scheme):
    def _enrol(patient, number=None):
        return Enrolment.objects.create(
            patient=patient, scheme=scheme, year=YEAR, insurance_number=number or f"INS{patient.pk:08d}"
        )

    return _enrol


@pytest.fixture
def visit(chain, policy, enrol):
    """Make an encounter with charge items for an enrolled patient (registered at the township by default)."""

    OfficeScheme.objects.get_or_create(office=chain["office"], scheme=policy.scheme)

    def _visit(patient=None, institution=None, items=(("A", "500.00"),), when=None):
        if patient is None:
            patient = PatientFactory(home_institution=chain["township"])
            enrol(patient)
        encounter = EncounterFactory(
            patient=patient, institution=institution or patient.home_institution, started_at=when or at()
        )
        for index, (cls, amount) in enumerate(items):
            ChargeItemFactory(
                encounter=encounter,
                item_code=f"I{index}",
                catalogue_class=cls,
                quantity=D("1"),
                unit_price=D(amount),
                amount=D(amount),
            )
        return encounter

    return _visit


@pytest.fixture
def office_token(chain, scheme):
    """An API token of the chain's insurance office (region 420500), administering the URRBMI scheme."""
    OfficeScheme.objects.get_or_create(office=chain["office"], scheme=scheme)
    client = ApiClient(name="医保接口", kind=ApiClientKind.INSURANCE_OFFICE, insurance_office=chain["office"])
    token = client.issue_token()
    client.save()
    return client, token


@pytest.fixture
def office_api(office_token):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {office_token[1]}")
    return api


@pytest.fixture
def adjudicated(chain, visit):
    """Seven township claims of March 2026, submitted and adjudicated: six approved (340.00 each), one rejected."""
    claims = [services.create_claim(encounter=visit(), actor=SYSTEM) for _ in range(7)]
    services.submit_claims(institution=chain["township"], period="2026-03", actor=SYSTEM)
    decisions = [services.Adjudication(c.number, ClaimStatus.APPROVED, None, []) for c in claims[:6]]
    decisions.append(services.Adjudication(claims[6].number, ClaimStatus.REJECTED, None, ["R10"]))
    services.adjudicate_claims(claims_queryset=Claim.objects.all(), decisions=decisions, actor=SYSTEM)
    return claims
