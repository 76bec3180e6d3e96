"""A hand-computed month (September 2026, Asia/Shanghai) for the roll-up tests; expected values are in the tests."""

import datetime
from decimal import Decimal

from django.utils import timezone

from consortium.models import OutboxEvent
from insurance.models import (
    Claim,
    ClaimKind,
    ClaimStatus,
    Discrepancy,
    DiscrepancyKind,
    DiscrepancyStatus,
    Policy,
    ReconciliationRun,
    Scheme,
    SettlementFile,
)
from referrals.models import Direction, FollowUpStatus, FollowUpTask, Referral, ReferralStatus, SatisfactionRating
from sync.models import Delivery, DeliveryStatus, Endpoint
from tests.factories import EncounterFactory, PatientFactory


def at(year, month, day, hour=8, minute=0) -> datetime.datetime:
    """A local (Asia/Shanghai) time."""
    return timezone.make_aware(datetime.datetime(year, month, day, hour, minute))


def build_september(chain) -> dict:
    city, township, village = chain["city"], chain["township"], chain["village"]
    p_village = PatientFactory(home_institution=village)
    p_town = PatientFactory(home_institution=township)
    p_city = PatientFactory(home_institution=city)

    # Visits: village patient 2x village + 1x city; township patient 1x township (last evening of
    # September, local time) + 1x city just after midnight on 1 October; city patient 1x city.
    e_v1 = EncounterFactory(patient=p_village, institution=village, started_at=at(2026, 9, 3))
    EncounterFactory(patient=p_village, institution=village, started_at=at(2026, 9, 4))
    e_v_city = EncounterFactory(patient=p_village, institution=city, started_at=at(2026, 9, 5))
    e_t1 = EncounterFactory(patient=p_town, institution=township, started_at=at(2026, 9, 30, 23, 30))
    EncounterFactory(patient=p_town, institution=city, started_at=at(2026, 10, 1, 0, 30))
    e_c1 = EncounterFactory(patient=p_city, institution=city, started_at=at(2026, 9, 6))

    def referral(patient, direction, source, target, status, submitted, decided=None, appointment=None):
        return Referral.objects.create(
            patient=patient,
            direction=direction,
            from_institution=source,
            to_institution=target,
            reason="test",
            status=status,
            submitted_at=submitted,
            decided_at=decided,
            appointment_at=appointment,
        )

    up, down = Direction.UP, Direction.DOWN
    r1 = referral(p_village, up, village, city, ReferralStatus.ACCEPTED, at(2026, 9, 10), at(2026, 9, 10, 10), at(2026, 9, 12))
    referral(p_town, up, township, city, ReferralStatus.REJECTED, at(2026, 9, 11), at(2026, 9, 11, 14))
    r3 = referral(p_village, up, village, city, ReferralStatus.COMPLETED, at(2026, 9, 12), at(2026, 9, 13), at(2026, 9, 15))
    r4 = referral(p_town, down, city, township, ReferralStatus.ACCEPTED, at(2026, 9, 20), at(2026, 9, 20, 9))
    referral(p_town, up, township, city, ReferralStatus.SUBMITTED, at(2026, 9, 21))
    referral(p_town, up, township, city, ReferralStatus.CANCELLED, at(2026, 9, 22))
    referral(p_town, up, township, city, ReferralStatus.DRAFT, None)

    FollowUpTask.objects.create(referral=r4, kind="revisit", due_on=datetime.date(2026, 9, 5), status=FollowUpStatus.DONE)
    FollowUpTask.objects.create(referral=r4, kind="revisit", due_on=datetime.date(2026, 9, 15))
    FollowUpTask.objects.create(referral=r4, kind="revisit", due_on=datetime.date(2026, 9, 25), status=FollowUpStatus.DONE)
    SatisfactionRating.objects.create(referral=r1, score=4, recorded_at=at(2026, 9, 20))
    SatisfactionRating.objects.create(referral=r3, score=5, recorded_at=at(2026, 9, 25))

    scheme, _created = Scheme.objects.get_or_create(code="URRBMI", defaults={"name": "城乡居民医保"})
    policy = Policy.objects.filter(scheme=scheme, year=2026).first() or Policy.objects.create(scheme=scheme, year=2026)
    numbers = iter(range(1, 100))

    def claim(encounter, institution, total, reimbursed, self_pay, status=ClaimStatus.SUBMITTED, **extra):
        return Claim.objects.create(
            number=f"CL{next(numbers):04d}",
            encounter=encounter,
            patient=encounter.patient,
            institution=institution,
            scheme=scheme,
            policy=policy,
            insurance_number="H1",
            period="2026-09",
            status=status,
            level=institution.level,
            total=Decimal(total),
            eligible=Decimal(total),
            deductible_applied=Decimal("0"),
            ratio=Decimal("0.5"),
            reimbursed=Decimal(reimbursed),
            self_pay=Decimal(self_pay),
            **extra,
        )

    claim(e_v1, village, "100.00", "80.00", "20.00")
    c2 = claim(e_v_city, city, "1000.00", "550.00", "450.00", settled_amount=Decimal("550.00"))
    c3 = claim(e_c1, city, "400.00", "240.00", "160.00")
    claim(e_t1, township, "50.00", "0.00", "50.00", status=ClaimStatus.REJECTED)
    c5 = claim(e_t1, township, "70.00", "60.00", "10.00")
    claim(e_t1, township, "-70.00", "-60.00", "-10.00", kind=ClaimKind.REVERSAL, reverses=c5)

    settlement = SettlementFile.objects.create(
        office=chain["office"], period="2026-09", file_name="s.csv", file_format="csv", sha256="0"
    )
    old_run = ReconciliationRun.objects.create(
        office=chain["office"], institution=city, period="2026-09", settlement_file=settlement
    )
    Discrepancy.objects.create(run=old_run, kind=DiscrepancyKind.AMOUNT_MISMATCH, claim_number="X")
    run = ReconciliationRun.objects.create(office=chain["office"], institution=city, period="2026-09", settlement_file=settlement)
    for number in ("A", "B", "C"):
        Discrepancy.objects.create(run=run, kind=DiscrepancyKind.MATCHED, claim_number=number, status=DiscrepancyStatus.RESOLVED)
    Discrepancy.objects.create(run=run, kind=DiscrepancyKind.AMOUNT_MISMATCH, claim_number=c2.number, claim=c2)

    endpoint = Endpoint.objects.create(
        institution=city, name="HIS", url="http://127.0.0.1:9/", secret="s" * 16, events=["encounter"]
    )
    other = Endpoint.objects.create(
        institution=city, name="HIS 2", url="http://127.0.0.1:9/2", secret="s" * 16, events=["encounter"]
    )
    event = OutboxEvent.objects.create(
        event_type="encounter",
        aggregate_type="records.encounter",
        aggregate_id="1",
        institution=township,
        created_at=at(2026, 9, 10),
    )
    for target, minutes in ((endpoint, 10), (other, 30)):
        Delivery.objects.create(
            event=event, endpoint=target, lane="p1", status=DeliveryStatus.DELIVERED, delivered_at=at(2026, 9, 10, 8, minutes)
        )
    return {"patients": (p_village, p_town, p_city), "claims": (c2, c3)}
