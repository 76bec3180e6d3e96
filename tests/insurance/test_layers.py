"""The benefit layers through the claim service: policy rows, accumulators, statement, API, re-adjudication."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from consortium.errors import Invalid
from consortium.models import AuditEvent, InstitutionLevel
from consortium.permissions import SYSTEM
from insurance import services
from insurance.models import (
    Accumulator,
    AssistanceGroup,
    Claim,
    ClaimStatus,
    Enrolment,
    PolicyAssistanceRule,
    PolicyIllnessSegment,
    PolicyLevelRule,
    PolicyStatus,
)
from insurance.registry import register_special_disease_source, unregister_special_disease_source
from records.models import EncounterKind
from referrals.models import Direction, Referral, ReferralStatus
from tests.factories import InstitutionFactory, PatientFactory

from .conftest import at

D = Decimal


@pytest.fixture
def layered(policy, chain):
    """Version 2 of the test policy with every layer; a county hospital inside the township's county."""
    InstitutionFactory(code="COUNTY", level=InstitutionLevel.COUNTY_HOSPITAL, region_code="420525", is_rural=False)
    draft = services.new_policy_version(policy=policy, actor=SYSTEM)
    draft.deductible_per_admission = True
    draft.annual_ceiling = D("20000")
    draft.out_of_county_reduction = D("0.15")
    draft.outpatient_pooling = True
    draft.outpatient_deductible = D("50")
    draft.outpatient_primary_ratio = D("0.55")
    draft.outpatient_other_ratio = D("0.40")
    draft.outpatient_annual_cap = D("500")
    draft.special_disease_ratio = D("0.65")
    draft.special_disease_annual_cap = D("3000")
    draft.illness_threshold = D("15000")
    draft.illness_annual_cap = D("400000")
    draft.save()
    PolicyLevelRule.objects.filter(policy=draft, level=InstitutionLevel.TOWNSHIP_HEALTH_CENTRE).update(
        later_admission_deductible=D("50")
    )
    for start, ratio in (("0", "0.60"), ("50000", "0.70"), ("100000", "0.80")):
        PolicyIllnessSegment.objects.create(policy=draft, start=D(start), ratio=D(ratio))
    PolicyAssistanceRule.objects.create(policy=draft, group=AssistanceGroup.LOW_INCOME, ratio=D("0.60"), annual_cap=D("30000"))
    return services.publish_policy(policy=draft, actor=SYSTEM)


def stay(visit, **kwargs):
    encounter = visit(**kwargs)
    encounter.kind = EncounterKind.INPATIENT
    encounter.save(update_fields=["kind"])
    return encounter


def approve(*claims):
    for claim in claims:
        services.submit_claims(institution=claim.institution, period=claim.period, actor=SYSTEM)
    services.adjudicate_claims(
        claims_queryset=Claim.objects.all(),
        decisions=[services.Adjudication(c.number, ClaimStatus.APPROVED, None, []) for c in claims],
        actor=SYSTEM,
    )


def county(chain):
    from consortium.models import Institution

    return Institution.objects.get(code="COUNTY")


def test_new_version_copies_every_layer(layered):
    again = services.new_policy_version(policy=layered, actor=SYSTEM)
    assert (again.version, again.deductible_per_admission, again.illness_threshold) == (3, True, D("15000.00"))
    assert again.illness_segments.count() == 3 and again.assistance_rules.count() == 1
    assert again.level_rules.get(level=InstitutionLevel.TOWNSHIP_HEALTH_CENTRE).later_admission_deductible == D("50.00")


def test_rows_of_a_policy_in_force_cannot_change(layered):
    with pytest.raises(ValidationError):
        PolicyIllnessSegment.objects.create(policy=layered, start=D("200000"), ratio=D("0.9"))
    with pytest.raises(ValidationError):
        layered.assistance_rules.get().delete()


def test_publishing_refuses_critical_illness_without_segments(policy):
    draft = services.new_policy_version(policy=policy, actor=SYSTEM)
    draft.illness_threshold = D("15000")
    draft.save()
    with pytest.raises(ValidationError) as refused:
        services.publish_policy(policy=draft, actor=SYSTEM)
    assert "illness_threshold" in refused.value.message_dict


def test_second_admission_pays_the_lower_deductible_and_reversal_gives_it_back(chain, layered, visit):
    first = services.create_claim(encounter=stay(visit, items=(("A", "2000.00"),)), actor=SYSTEM)
    second = services.create_claim(
        encounter=stay(visit, patient=first.patient, items=(("A", "2000.00"),), when=at(day=20)), actor=SYSTEM
    )
    assert (first.benefit, first.admission_number, first.deductible_applied, first.reimbursed) == (
        "inpatient",
        1,
        D("100.00"),
        D("1615.00"),
    )
    assert (second.admission_number, second.deductible_applied, second.reimbursed) == (2, D("50.00"), D("1657.50"))
    accumulator = Accumulator.objects.get(patient=first.patient)
    assert (accumulator.admissions, accumulator.reimbursed, accumulator.illness_qualifying) == (2, D("3272.50"), D("727.50"))
    approve(second)
    services.reverse_claim(claim=Claim.objects.get(pk=second.pk), actor=SYSTEM, reason="重复")
    accumulator.refresh_from_db()
    assert (accumulator.admissions, accumulator.reimbursed, accumulator.illness_qualifying) == (1, D("1615.00"), D("385.00"))


def test_in_county_referral_pays_the_deductible_difference(chain, layered, visit):
    patient = PatientFactory(home_institution=chain["township"])
    Enrolment.objects.create(patient=patient, scheme=layered.scheme, year=2026, insurance_number="INS-REF")
    Referral.objects.create(
        patient=patient,
        direction=Direction.UP,
        from_institution=chain["township"],
        to_institution=county(chain),
        reason="肺炎",
        status=ReferralStatus.ACCEPTED,
        submitted_at=at(day=9),
    )
    claim = services.create_claim(
        encounter=stay(visit, patient=patient, institution=county(chain), items=(("A", "5000.00"),)), actor=SYSTEM
    )
    # county deductible 400 less the township's 100; the county's normal ratio
    assert (claim.referred, claim.out_of_county, claim.deductible_applied, claim.ratio, claim.reimbursed) == (
        True,
        False,
        D("300.00"),
        D("0.7500"),
        D("3525.00"),
    )


def test_unreferred_out_of_county_stay_gets_the_reduced_ratio(chain, layered, visit):
    claim = services.create_claim(encounter=stay(visit, institution=chain["city"], items=(("A", "10000.00"),)), actor=SYSTEM)
    # city 0.40 without referral, less 0.15 outside the county
    assert (claim.out_of_county, claim.referred, claim.ratio, claim.reimbursed) == (True, False, D("0.2500"), D("2300.00"))


def test_annual_ceiling_reached_across_two_levels(chain, layered, visit):
    township_stay = services.create_claim(encounter=stay(visit, items=(("A", "20000.00"),)), actor=SYSTEM)
    assert township_stay.reimbursed == D("16915.00")  # (20000 − 100) × 0.85
    city_stay = services.create_claim(
        encounter=stay(
            visit, patient=township_stay.patient, institution=chain["city"], items=(("A", "30000.00"),), when=at(day=20)
        ),
        actor=SYSTEM,
    )
    # one 20,000 ceiling for the year: 3,085 left for the city stay whatever its own computation
    assert (city_stay.reimbursed, Accumulator.objects.get(patient=township_stay.patient).reimbursed) == (
        D("3085.00"),
        D("20000.00"),
    )


def test_outpatient_pooling_and_special_disease_through_the_service(chain, layered, visit, enrol):
    pooled = services.create_claim(encounter=visit(items=(("A", "200.00"),)), actor=SYSTEM)
    assert (pooled.benefit, pooled.deductible_applied, pooled.reimbursed) == ("outpatient_pool", D("50.00"), D("82.50"))
    flagged = PatientFactory(home_institution=chain["township"])
    Enrolment.objects.create(patient=flagged, scheme=layered.scheme, year=2026, insurance_number="INS-SD", special_disease=True)
    special = services.create_claim(encounter=visit(patient=flagged, items=(("A", "1000.00"),)), actor=SYSTEM)
    assert (special.benefit, special.reimbursed) == ("special_disease", D("650.00"))
    accumulator = Accumulator.objects.get(patient=flagged)
    assert (accumulator.special_reimbursed, accumulator.reimbursed) == (D("650.00"), D("0.00"))


def test_chronic_programme_hook_supplies_enrolment(chain, layered, visit):
    patient = PatientFactory(home_institution=chain["township"])
    Enrolment.objects.create(patient=patient, scheme=layered.scheme, year=2026, insurance_number="INS-HOOK")

    def source(patient_id, year):
        return patient_id == patient.pk and year == 2026

    register_special_disease_source(source)
    try:
        claim = services.create_claim(encounter=visit(patient=patient, items=(("A", "1000.00"),)), actor=SYSTEM)
    finally:
        unregister_special_disease_source(source)
    assert claim.benefit == "special_disease"


def test_three_layers_on_one_claim_statement_and_api(chain, layered, visit, login, office_api):
    patient = PatientFactory(home_institution=chain["township"])
    Enrolment.objects.create(
        patient=patient, scheme=layered.scheme, year=2026, insurance_number="INS-3L", assistance_group=AssistanceGroup.LOW_INCOME
    )
    claim = services.create_claim(encounter=stay(visit, patient=patient, items=(("A", "30000.00"),)), actor=SYSTEM)
    # basic: (30000 − 100) × 0.85 = 25415; ceiling 20000. Qualifying 10000 → critical illness (10000 − 0 above
    # 15000 threshold? no: the year's qualifying self-pay is 10000, below the threshold) 0; assistance 10000 × 0.6 = 6000
    assert (claim.reimbursed, claim.illness_paid, claim.assistance_paid, claim.patient_pays) == (
        D("20000.00"),
        D("0.00"),
        D("6000.00"),
        D("4000.00"),
    )
    big = services.create_claim(encounter=stay(visit, patient=patient, items=(("A", "40000.00"),), when=at(day=25)), actor=SYSTEM)
    # ceiling used up: all 40000 qualifying; the year runs 10000 → 50000: 35000 above 15000 at 0.6 = 21000;
    # assistance (40000 − 21000) × 0.6 = 11400
    assert (big.reimbursed, big.illness_paid, big.assistance_paid, big.patient_pays) == (
        D("0.00"),
        D("21000.00"),
        D("11400.00"),
        D("7600.00"),
    )
    client = login(chain["staff"]["clerk"])
    html = client.get(reverse("insurance:claim-detail", args=[big.number]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    for text in ("One-stop settlement", "Critical-illness insurance", "Medical assistance", "21,000.00", "11,400.00", "7,600.00"):
        assert text in html
    detail = office_api.get(reverse("api-insurance-claim-detail", args=[big.number])).data
    assert (detail["illness_paid"], detail["assistance_paid"], detail["patient_pays"], detail["benefit"]) == (
        "21000.00",
        "11400.00",
        "7600.00",
        "inpatient",
    )


def test_readjudication_is_explicit_and_audited(chain, policy, visit):
    claim = services.create_claim(encounter=stay(visit, items=(("A", "2000.00"),)), actor=SYSTEM)
    approve(claim)
    draft = services.new_policy_version(policy=policy, actor=SYSTEM)
    draft.deductible_per_admission = True
    draft.save()
    PolicyLevelRule.objects.filter(policy=draft, level=InstitutionLevel.TOWNSHIP_HEALTH_CENTRE).update(ratio=D("0.90"))
    newer = services.publish_policy(policy=draft, actor=SYSTEM)
    claim.refresh_from_db()
    assert claim.policy.version == 1 and claim.reimbursed == D("1615.00")  # publishing changes no claim
    insurer = chain["staff"]["insurance"].user
    with pytest.raises(Invalid) as refused:
        services.readjudicate_claims(claims=[claim], actor=insurer, reason=" ")
    assert refused.value.field == "reason"
    [(old, new)] = services.readjudicate_claims(claims=[claim], actor=insurer, reason="2026 v2 政策调整")
    assert (old.pk, new.policy_id, new.reimbursed, new.replaces_id) == (claim.pk, newer.pk, D("1710.00"), claim.pk)
    assert hasattr(Claim.objects.get(pk=claim.pk), "reversal")
    audit = AuditEvent.objects.get(action="insurance.claim_readjudicated")
    assert audit.detail["reimbursed_before"] == "1615.00" and audit.detail["reimbursed_after"] == "1710.00"
    with pytest.raises(Invalid) as refused:
        services.readjudicate_claims(claims=[Claim.objects.get(pk=claim.pk)], actor=insurer, reason="again")
    assert refused.value.field == "claims" and claim.number in refused.value.message
    assert PolicyStatus.SUPERSEDED == claim.policy.__class__.objects.get(pk=policy.pk).status


def test_readjudication_needs_the_adjudication_right(chain, policy, visit):
    from consortium.errors import NotPermitted

    claim = services.create_claim(encounter=stay(visit, items=(("A", "2000.00"),)), actor=SYSTEM)
    approve(claim)
    with pytest.raises(NotPermitted):
        services.readjudicate_claims(claims=[claim], actor=chain["staff"]["clerk"].user, reason="试")
    assert Claim.objects.count() == 1
