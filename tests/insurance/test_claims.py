"""Claims from encounters: calculation, accumulators, referral rule, lifecycle, reversal and correction."""

from decimal import Decimal

import pytest

from consortium.errors import Conflict, IllegalTransition, Invalid
from consortium.models import AuditEvent, OutboxEvent
from consortium.permissions import SYSTEM
from insurance import services
from insurance.models import Accumulator, Claim, ClaimKind, ClaimStatus, OfficeScheme, PeriodClose
from referrals.models import Direction, Referral, ReferralStatus
from tests.factories import InsuranceOfficeFactory, PatientFactory

from .conftest import at

D = Decimal


def test_claim_from_encounter_calculates_and_accumulates(chain, visit):
    encounter = visit(items=(("A", "200.00"), ("B", "300.00"), ("C", "50.00")))
    claim = services.create_claim(encounter=encounter, actor=chain["staff"]["clerk"].user)
    assert (claim.total, claim.eligible, claim.deductible_applied, claim.reimbursed, claim.self_pay) == (
        D("550.00"),
        D("470.00"),
        D("100.00"),
        D("314.50"),
        D("235.50"),
    )
    assert claim.status == ClaimStatus.DRAFT and claim.period == "2026-03"
    assert [line.eligible for line in claim.lines.all()] == [D("200.00"), D("270.00"), D("0.00")]
    accumulator = Accumulator.objects.get(patient=encounter.patient)
    assert (accumulator.deductible_paid, accumulator.reimbursed) == (D("100.00"), D("314.50"))
    assert AuditEvent.objects.filter(action="insurance.claim_created", object_id=str(claim.pk)).exists()
    assert OutboxEvent.objects.filter(aggregate_type="insurance.claim", aggregate_id=str(claim.pk)).exists()
    audit = AuditEvent.objects.get(action="insurance.claim_created")
    assert encounter.patient.name not in str(audit.detail)


def test_second_visit_carries_the_deductible(chain, visit):
    first = visit(items=(("A", "60.00"),))
    services.create_claim(encounter=first, actor=SYSTEM)
    second = visit(patient=first.patient, items=(("A", "80.00"),), when=at(day=12))
    claim = services.create_claim(encounter=second, actor=SYSTEM)
    assert (claim.deductible_applied, claim.reimbursed) == (D("40.00"), D("34.00"))


def test_referred_upward_visit_keeps_deductible_and_ratio(chain, visit):
    first = visit(items=(("A", "100.00"),))
    services.create_claim(encounter=first, actor=SYSTEM)
    Referral.objects.create(
        patient=first.patient,
        direction=Direction.UP,
        from_institution=chain["township"],
        to_institution=chain["city"],
        reason="胸痛",
        status=ReferralStatus.ACCEPTED,
        submitted_at=at(day=11),
    )
    claim = services.create_claim(
        encounter=visit(patient=first.patient, institution=chain["city"], items=(("A", "2000.00"),), when=at(day=12)),
        actor=SYSTEM,
    )
    assert claim.upward and claim.referred
    assert (claim.deductible_applied, claim.ratio, claim.reimbursed) == (D("700.00"), D("0.5500"), D("715.00"))


def test_unreferred_upward_visit_gets_the_lower_ratio(chain, visit):
    first = visit(items=(("A", "100.00"),))
    services.create_claim(encounter=first, actor=SYSTEM)
    claim = services.create_claim(
        encounter=visit(patient=first.patient, institution=chain["city"], items=(("A", "2000.00"),), when=at(day=12)),
        actor=SYSTEM,
    )
    assert claim.upward and not claim.referred
    assert (claim.deductible_applied, claim.ratio, claim.reimbursed) == (D("800.00"), D("0.4000"), D("480.00"))


def test_claim_refused_without_enrolment_policy_or_items(chain, visit, enrol):
    patient = PatientFactory(home_institution=chain["township"])
    encounter = visit(patient=patient)
    with pytest.raises(Invalid) as excinfo:
        services.create_claim(encounter=encounter, actor=SYSTEM)
    assert excinfo.value.field == "encounter" and excinfo.value.code == "not_enrolled"
    enrol(patient)
    empty = visit(patient=patient, items=())
    with pytest.raises(Invalid) as excinfo:
        services.create_claim(encounter=empty, actor=SYSTEM)
    assert not Claim.objects.exists() and not Accumulator.objects.filter(reimbursed__gt=0).exists()


def test_one_standing_claim_per_encounter(chain, visit):
    encounter = visit()
    services.create_claim(encounter=encounter, actor=SYSTEM)
    with pytest.raises(Conflict) as excinfo:
        services.create_claim(encounter=encounter, actor=SYSTEM)
    assert excinfo.value.code == "claim_exists"
    assert Claim.objects.count() == 1


def test_closed_period_refuses_new_claims(chain, visit, scheme):
    other = InsuranceOfficeFactory(region_code="420500")
    PeriodClose.objects.create(office=other, institution=chain["township"], period="2026-03")
    services.create_claim(encounter=visit(), actor=SYSTEM)  # the other office does not administer the scheme
    OfficeScheme.objects.get_or_create(office=chain["office"], scheme=scheme)
    PeriodClose.objects.create(office=chain["office"], institution=chain["township"], period="2026-03")
    with pytest.raises(Conflict) as excinfo:
        services.create_claim(encounter=visit(), actor=SYSTEM)
    assert excinfo.value.field == "period" and excinfo.value.code == "period_closed"


def _adjudicate(claim, outcome, amount=None, reasons=()):
    return services.adjudicate_claims(
        claims_queryset=Claim.objects.all(),
        decisions=[services.Adjudication(claim.number, outcome, amount, list(reasons))],
        actor=SYSTEM,
    )


def test_lifecycle_batch_adjudication_and_accumulator_give_back(chain, visit):
    approved = services.create_claim(encounter=visit(), actor=SYSTEM)
    partly = services.create_claim(encounter=visit(), actor=SYSTEM)
    rejected = services.create_claim(encounter=visit(), actor=SYSTEM)
    (batch,) = services.submit_claims(institution=chain["township"], period="2026-03", actor=SYSTEM)
    assert batch.claim_count == 3 and batch.total_claimed == D("1020.00")
    assert set(Claim.objects.values_list("status", flat=True)) == {ClaimStatus.SUBMITTED}
    assert services.submit_claims(institution=chain["township"], period="2026-03", actor=SYSTEM) == []
    _adjudicate(approved, ClaimStatus.APPROVED)
    _adjudicate(partly, ClaimStatus.PARTLY_APPROVED, D("300.00"), ["R01"])
    _adjudicate(rejected, ClaimStatus.REJECTED, reasons=["R99"])
    partly_acc = Accumulator.objects.get(patient=partly.patient)
    assert partly_acc.reimbursed == D("300.00")
    rejected_acc = Accumulator.objects.get(patient=rejected.patient)
    assert (rejected_acc.reimbursed, rejected_acc.deductible_paid) == (D("0.00"), D("0.00"))
    batch.refresh_from_db()
    assert batch.status == "adjudicated"


def test_bad_adjudications_are_refused_whole(chain, visit):
    claim = services.create_claim(encounter=visit(), actor=SYSTEM)
    other = services.create_claim(encounter=visit(), actor=SYSTEM)
    services.submit_claims(institution=chain["township"], period="2026-03", actor=SYSTEM)
    with pytest.raises(services.AdjudicationErrors) as excinfo:
        services.adjudicate_claims(
            claims_queryset=Claim.objects.all(),
            decisions=[
                services.Adjudication(claim.number, ClaimStatus.APPROVED, None, []),
                services.Adjudication(other.number, ClaimStatus.PARTLY_APPROVED, D("999.00"), []),
                services.Adjudication("NOPE", ClaimStatus.APPROVED, None, []),
            ],
            actor=SYSTEM,
        )
    fields = {e["field"] for e in excinfo.value.errors}
    assert fields == {"results.1.approved_amount", "results.1.reason_codes", "results.2.claim_number"}
    assert not Claim.objects.exclude(status=ClaimStatus.SUBMITTED).exists()


def test_draft_claim_cannot_be_adjudicated(chain, visit):
    claim = services.create_claim(encounter=visit(), actor=SYSTEM)
    with pytest.raises(services.AdjudicationErrors):
        _adjudicate(claim, ClaimStatus.APPROVED)


def test_correction_is_reversal_plus_new_claim_and_original_is_untouched(chain, visit):
    encounter = visit()
    claim = services.create_claim(encounter=encounter, actor=SYSTEM)
    services.submit_claims(institution=chain["township"], period="2026-03", actor=SYSTEM)
    _adjudicate(claim, ClaimStatus.APPROVED)
    Claim.objects.filter(pk=claim.pk).update(status=ClaimStatus.SETTLED)
    before = Claim.objects.values().get(pk=claim.pk)
    item = encounter.charge_items.get()
    item.amount = item.unit_price = D("300.00")
    item.save()
    reversal, replacement = services.correct_claim(claim=claim, actor=SYSTEM, reason="金额录入错误")
    assert Claim.objects.values().get(pk=claim.pk) == before
    assert reversal.kind == ClaimKind.REVERSAL and reversal.reverses == claim and reversal.reimbursed == -claim.reimbursed
    assert replacement.replaces == claim and replacement.total == D("300.00")
    assert (replacement.deductible_applied, replacement.reimbursed) == (D("100.00"), D("170.00"))
    accumulator = Accumulator.objects.get(patient=encounter.patient)
    assert accumulator.reimbursed == D("170.00")
    with pytest.raises(Conflict):
        services.reverse_claim(claim=claim, actor=SYSTEM, reason="again")


def test_draft_claim_cannot_be_reversed(chain, visit):
    claim = services.create_claim(encounter=visit(), actor=SYSTEM)
    with pytest.raises(IllegalTransition):
        services.reverse_claim(claim=claim, actor=SYSTEM, reason="x")


def test_batching_task_submits_drafts(chain, visit):
    from insurance.tasks import batch_draft_claims

    services.create_claim(encounter=visit(), actor=SYSTEM)
    services.create_claim(encounter=visit(when=at(month=4)), actor=SYSTEM)
    assert batch_draft_claims() == 2
    assert not Claim.objects.filter(status=ClaimStatus.DRAFT).exists()
