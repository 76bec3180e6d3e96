"""The demo insurance data loads on top of the demo consortium and loads only once."""

from django.core.management import call_command
from django.utils import timezone

from insurance.demo import seed_insurance_demo
from insurance.models import Claim, Enrolment, OfficeScheme, Policy, PolicyStatus
from tests.factories import ChargeItemFactory, EncounterFactory, PatientFactory


def test_demo_seed_is_idempotent_and_makes_claims_possible(chain):
    patient = PatientFactory(home_institution=chain["township"], insurance_number="H42052500000001")
    encounter = EncounterFactory(patient=patient, started_at=timezone.now())
    ChargeItemFactory(encounter=encounter)
    created = seed_insurance_demo()
    # version 1 (level rules) of each scheme and year, then version 2 with the benefit layers over it
    # the fund: opened, two months' prepayments and provisional settlements, frozen scores
    assert created == {
        "policies": 8,
        "office schemes": 2,
        "enrolments": 2,
        "claims": 1,
        "visits outside the county": 1,  # one in seven rural residents: the first of them
        "fund entries": 6,
    }
    in_force = Policy.objects.filter(status=PolicyStatus.IN_FORCE)
    assert in_force.count() == 4 and all(p.version == 2 and p.deductible_per_admission for p in in_force)
    assert Policy.objects.filter(status=PolicyStatus.SUPERSEDED, version=1).count() == 4
    assert Enrolment.objects.get(patient=patient, year=timezone.localdate().year).scheme.code == "URRBMI"
    again = seed_insurance_demo()
    assert set(again.values()) == {0} and len(again) == len(created)
    call_command("seed_insurance_demo", verbosity=0)
    assert Claim.objects.count() == 1 and OfficeScheme.objects.count() == 2
