"""Catastrophic-expenditure warnings: thresholds at and around the boundary, attribution, window, clearing."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from consortium.models import AuditEvent
from dashboard import services
from dashboard.expenditure import Thresholds, decide, window_start
from dashboard.models import ExpenditureWarning, HouseholdEconomics, WarningPolicy, WarningStatus
from insurance.models import Claim, ClaimStatus, Policy, Scheme
from tests.factories import ChargeItemFactory, EncounterFactory, PatientFactory

from .fixtures import at

pytestmark = pytest.mark.django_db
TODAY = datetime.date(2026, 11, 26)
DEFAULTS = Thresholds(Decimal("20000.00"), Decimal("0.4000"), 12)


def spend(patient, amount: str, when=None, institution=None):
    encounter = EncounterFactory(
        patient=patient, institution=institution or patient.home_institution, started_at=when or at(2026, 10, 1)
    )
    ChargeItemFactory(encounter=encounter, quantity=Decimal("1"), unit_price=Decimal(amount), amount=Decimal(amount))
    return encounter


def warning_of(patient):
    return ExpenditureWarning.objects.filter(patient=patient).first()


@pytest.mark.parametrize(
    ("self_pay", "flagged"), [("19999.99", False), ("20000.00", True), ("20000.01", True)], ids=["below", "at", "above"]
)
def test_absolute_threshold_boundary(chain, self_pay, flagged):
    patient = PatientFactory(home_institution=chain["township"])
    spend(patient, self_pay)
    services.recompute_expenditure_warnings(today=TODAY)
    warning = warning_of(patient)
    assert (warning is not None) is flagged
    if flagged:
        assert warning.self_pay == Decimal(self_pay)
        assert warning.over_absolute and not warning.over_relative
        assert warning.absolute_threshold == Decimal("20000.00")


@pytest.mark.parametrize(
    ("self_pay", "flagged"), [("3999.99", False), ("4000.00", True), ("4000.01", True)], ids=["below", "at", "above"]
)
def test_relative_threshold_boundary_with_a_recorded_income(chain, self_pay, flagged):
    patient = PatientFactory(home_institution=chain["township"])
    HouseholdEconomics.objects.create(patient=patient, income_band="10k_30k", annual_income=Decimal("10000.00"))
    spend(patient, "1000.00", when=at(2026, 3, 1))
    spend(patient, str(Decimal(self_pay) - Decimal("1000.00")), when=at(2026, 11, 20))
    services.recompute_expenditure_warnings(today=TODAY)
    warning = warning_of(patient)
    assert (warning is not None) is flagged
    if flagged:
        assert (warning.reference_income, warning.relative_threshold) == (Decimal("10000.00"), Decimal("4000.00"))
        assert warning.over_relative and not warning.over_absolute
        assert warning.visits == 2


@pytest.mark.parametrize(("self_pay", "flagged"), [("1999.99", False), ("2000.00", True)])
def test_relative_threshold_from_the_income_band(chain, self_pay, flagged):
    patient = PatientFactory(home_institution=chain["township"])
    HouseholdEconomics.objects.create(patient=patient, income_band="under_10k")  # reference income 5,000
    spend(patient, self_pay)
    services.recompute_expenditure_warnings(today=TODAY)
    assert (warning_of(patient) is not None) is flagged


def test_without_a_known_income_only_the_absolute_threshold_applies(chain):
    patient = PatientFactory(home_institution=chain["township"])
    spend(patient, "15000.00")
    services.recompute_expenditure_warnings(today=TODAY)
    assert warning_of(patient) is None


def test_the_consortium_policy_overrides_the_defaults(chain):
    WarningPolicy.objects.create(consortium=chain["consortium"], absolute_threshold=Decimal("5000.00"), window_months=6)
    patient = PatientFactory(home_institution=chain["township"])
    spend(patient, "3000.00", when=at(2026, 5, 26, 23, 59))  # before the six-month window
    spend(patient, "5000.00", when=at(2026, 5, 27, 0, 0))  # its first minute
    services.recompute_expenditure_warnings(today=TODAY)
    warning = warning_of(patient)
    assert warning.self_pay == Decimal("5000.00")
    assert (warning.window_start, warning.window_end) == (datetime.date(2026, 5, 27), TODAY)


def test_the_window_is_twelve_calendar_months_ending_today():
    assert window_start(datetime.date(2026, 11, 26), 12) == datetime.date(2025, 11, 27)
    assert window_start(datetime.date(2024, 2, 29), 12) == datetime.date(2023, 3, 1)
    assert window_start(datetime.date(2026, 3, 31), 1) == datetime.date(2026, 3, 1)


def test_the_decision_is_exact_and_inclusive():
    assert decide(Decimal("20000.00"), None, DEFAULTS).over_absolute
    assert not decide(Decimal("19999.99"), None, DEFAULTS).flagged
    decision = decide(Decimal("1000.00"), Decimal("2500.00"), DEFAULTS)
    assert (decision.over_relative, decision.relative_threshold) == (True, Decimal("1000.00"))
    assert decide(Decimal("33.33"), Decimal("83.33"), DEFAULTS).relative_threshold == Decimal("33.33")  # 33.332 to the fen


def test_a_village_patient_is_flagged_to_the_township_centre_and_audited_without_identity(chain):
    patient = PatientFactory(home_institution=chain["village"])
    spend(patient, "25000.00")
    result = services.recompute_expenditure_warnings(today=TODAY)
    assert result.created == 1
    warning = warning_of(patient)
    assert warning.institution == chain["township"]
    event = AuditEvent.objects.get(action="dashboard.expenditure_warning_raised")
    assert event.institution == chain["township"]
    assert patient.name not in str(event.detail) and patient.resident_id not in str(event.detail)


def test_a_hospital_patient_is_flagged_to_the_home_institution(chain):
    patient = PatientFactory(home_institution=chain["city"])
    spend(patient, "25000.00")
    services.recompute_expenditure_warnings(today=TODAY)
    assert warning_of(patient).institution == chain["city"]


def test_an_effective_claim_counts_its_self_pay_and_a_rejected_one_the_full_charges(chain):
    scheme, _created = Scheme.objects.get_or_create(code="URRBMI", defaults={"name": "城乡居民医保"})
    policy = Policy.objects.filter(scheme=scheme, year=2026).first() or Policy.objects.create(scheme=scheme, year=2026)
    patient = PatientFactory(home_institution=chain["township"])
    covered = spend(patient, "30000.00")
    rejected = spend(patient, "12000.00")

    def claim(encounter, number, status, self_pay):
        Claim.objects.create(
            number=number, encounter=encounter, patient=patient, institution=encounter.institution, scheme=scheme, policy=policy,
            insurance_number="H1", period="2026-10", status=status, level=encounter.institution.level,
            total=Decimal("1"), eligible=Decimal("1"), deductible_applied=Decimal("0"), ratio=Decimal("0.5"),
            reimbursed=Decimal("1"), self_pay=Decimal(self_pay),
        )  # fmt: skip

    claim(covered, "C1", ClaimStatus.APPROVED, "9000.00")
    claim(rejected, "C2", ClaimStatus.REJECTED, "100.00")
    services.recompute_expenditure_warnings(today=TODAY)
    assert warning_of(patient).self_pay == Decimal("21000.00")  # 9,000 self-pay + 12,000 unreimbursed


def test_outside_the_window_or_outside_the_consortium_is_not_flagged(chain):
    old = PatientFactory(home_institution=chain["township"])
    spend(old, "50000.00", when=at(2025, 11, 26, 23, 59))
    stranger = PatientFactory(home_institution=chain["outsider"])
    spend(stranger, "50000.00")
    services.recompute_expenditure_warnings(today=TODAY)
    assert ExpenditureWarning.objects.count() == 0


def test_recomputation_refreshes_clears_and_is_idempotent(chain):
    patient = PatientFactory(home_institution=chain["township"])
    spend(patient, "21000.00", when=at(2026, 1, 10))
    services.recompute_expenditure_warnings(today=TODAY)
    first = warning_of(patient)
    again = services.recompute_expenditure_warnings(today=TODAY)
    assert again.changed == 0
    assert warning_of(patient).computed_at == first.computed_at

    spend(patient, "500.00", when=at(2026, 11, 1))
    assert services.recompute_expenditure_warnings(today=TODAY).updated == 1
    assert warning_of(patient).self_pay == Decimal("21500.00")

    later = services.recompute_expenditure_warnings(today=datetime.date(2027, 1, 15))  # January 2026 left the window
    assert later.deleted == 1
    assert warning_of(patient).status == WarningStatus.CLEARED
    assert AuditEvent.objects.filter(action="dashboard.expenditure_warning_cleared").count() == 1


def test_recording_household_income_validates_and_audits(chain):
    patient = PatientFactory(home_institution=chain["township"])
    actor = chain["staff"]["clerk"].user
    for band, income, field in (("", None, "income_band"), ("rich", None, "income_band"), ("", Decimal("-1"), "annual_income")):
        with pytest.raises(ValidationError) as error:
            services.record_household_economics(patient=patient, income_band=band, annual_income=income, actor=actor)
        assert field in error.value.message_dict
    assert not HouseholdEconomics.objects.exists()
    household = services.record_household_economics(patient=patient, income_band="under_10k", annual_income=None, actor=actor)
    assert household.income_band == "under_10k"
    assert AuditEvent.objects.filter(action="dashboard.household_economics_recorded", actor=actor).count() == 1
