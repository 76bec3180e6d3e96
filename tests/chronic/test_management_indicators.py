"""Chronic-care indicators of issue 16 against a hand-computed fixture (June 2026, as of 30 June).

Hypertension, rural patients of the village clinic (township team), enrolled on the day shown:

| patient | enrolled | face-to-face follow-ups in the year to 30 June | required | standardised | June follow-ups (last) |
| --- | --- | --- | --- | --- | --- |
| A | 2025-06-01 | 6 (4 before June, 5 and 20 June) | 4 | yes | 150/95, 132/84 (controlled) |
| B | 2026-01-15 (166 days) | 1 (10 June; 25 June by phone) | 1 | yes | 150/95, 130/80 by phone (controlled) |
| C | 2025-03-01 | 1 | 4 | no | 150/95 (uncontrolled) |
| D | 2026-06-10 (20 days) | 0 | 0 | yes | none |
| E | 2025-01-01, left 10 July | 0 | 4 | no | none |
| F | 2025-01-01, left 20 May | — | — | not enrolled at the end of June | none |
| G | 2026-06-01 | 1 | 0 | yes | 186/100 danger, referral sent and completed |
| H | 2026-06-01 | 1 | 0 | yes | 184/100 danger, no referral |

Enrolled 7 (A–E, G, H); standardised 5/7; control by the last June follow-up 2/5 (A, B of A, B, C, G, H),
where the share of all June follow-ups would be 2/7; triggered referrals 2, completed 1.
Contract coverage of the 8 rural residents registered before July: A's household contract covers A
and B (2/8); C's contract expired in January and E's was ended, so they are not covered.
An urban patient U (city) enrolled 2026-03-01 (121 days, 1 required), one clinic follow-up 3 June,
controlled: standardised 1/1, control 1/1.
"""

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from chronic import rules as R
from chronic import services
from dashboard.rollups import compute, follow_up_thresholds
from referrals.models import Direction, Referral, ReferralStatus

pytestmark = pytest.mark.django_db

JUNE = datetime.date(2026, 6, 1)
TODAY = datetime.date(2026, 7, 15)
REGISTERED = timezone.make_aware(datetime.datetime(2024, 12, 1, 9))


def at(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(10)))


def d(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


def test_follow_up_thresholds_match_the_rule():
    for days in range(0, 800):
        day = d("2026-06-30")
        expected = R.required_follow_ups(day - datetime.timedelta(days=days), day)
        reached = next((k for threshold, k in follow_up_thresholds() if days >= threshold), 0)
        assert reached == expected, days


@pytest.fixture
def june(chronic):
    village = chronic.village

    def patient(name, **kwargs):
        return chronic.patient(name=name, created_at=REGISTERED, **kwargs)

    def follow(enrolment, day, systolic, diastolic, method="clinic"):
        return chronic.record(enrolment, systolic, diastolic, done_on=d(day), method=method)

    people = {name: patient(name) for name in "ABCDEFGH"}
    a = chronic.enrolled(people["A"], when=at(d("2025-06-01")))
    for day in ("2025-08-01", "2025-11-01", "2026-02-01", "2026-05-01"):
        follow(a, day, "128", "80")
    follow(a, "2026-06-05", "150", "95")
    follow(a, "2026-06-20", "132", "84")
    b = chronic.enrolled(people["B"], when=at(d("2026-01-15")))
    follow(b, "2026-06-10", "150", "95")
    follow(b, "2026-06-25", "130", "80", method="phone")
    c = chronic.enrolled(people["C"], when=at(d("2025-03-01")))
    follow(c, "2026-06-15", "150", "95")
    chronic.enrolled(people["D"], when=at(d("2026-06-10")))
    e = chronic.enrolled(people["E"], when=at(d("2025-01-01")))
    services.leave_programme(e.pk, actor=chronic.public_health, reason="迁出", now=at(d("2026-07-10")))
    f = chronic.enrolled(people["F"], when=at(d("2025-01-01")))
    services.leave_programme(f.pk, actor=chronic.public_health, reason="迁出", now=at(d("2026-05-20")))
    g = chronic.enrolled(people["G"], when=at(d("2026-06-01")))
    danger = follow(g, "2026-06-12", "186", "100")
    assert danger.trigger == "danger"
    Referral.objects.create(
        patient=people["G"],
        from_institution=village,
        to_institution=chronic.city,
        direction=Direction.UP,
        reason="危险值",
        status=ReferralStatus.COMPLETED,
        source_encounter=danger.encounter,
        submitted_at=at(d("2026-06-12")),
    )
    h = chronic.enrolled(people["H"], when=at(d("2026-06-01")))
    assert follow(h, "2026-06-14", "184", "100").trigger == "danger"

    def contract(holder, start, end, household=()):
        return services.sign_contract(
            actor=chronic.public_health,
            team=chronic.team,
            holder=holder,
            household=list(household),
            package="chronic",
            starts_on=d(start),
            ends_on=d(end),
            signature_method="handwritten",
        )

    contract(people["A"], "2026-01-01", "2027-01-01", household=[people["B"]])
    contract(people["C"], "2025-01-01", "2026-01-01")
    ended = contract(people["E"], "2026-01-01", "2027-01-01")
    services.end_contract(ended.pk, actor=chronic.public_health, reason="解约")

    root = get_user_model().objects.create_superuser("root", password="x")
    urban = chronic.patient(home=chronic.city, name="U", created_at=REGISTERED)
    candidate = services.add_candidate(actor=root, patient=urban, programme=chronic.hypertension, institution=chronic.city)
    u = services.enrol(candidate.pk, actor=root, now=at(d("2026-03-01")))
    chronic.record(u, "128", "80", actor=root, done_on=d("2026-06-03"))
    return compute(JUNE, JUNE, TODAY)


def value(values, code, scope, scope_id):
    row = values[(code, scope, scope_id, JUNE)]
    return row["numerator"], row["denominator"], row["value"]


def test_enrolled_standardised_and_control_by_the_last_follow_up(june, chronic):
    for scope, scope_id in (("institution", chronic.village.pk), ("township", chronic.township.pk)):
        assert value(june, "hypertension_enrolled", scope, scope_id)[0] == 7
        assert value(june, "bp_standardised_rate_rural", scope, scope_id) == (5, 7, Decimal("0.7143"))
        assert value(june, "bp_control_rate_rural", scope, scope_id) == (2, 5, Decimal("0.4000"))
    consortium = chronic.consortium.pk
    assert value(june, "hypertension_enrolled", "consortium", consortium)[0] == 8
    assert value(june, "bp_standardised_rate_urban", "consortium", consortium) == (1, 1, Decimal("1.0000"))
    assert value(june, "bp_control_rate_urban", "institution", chronic.city.pk) == (1, 1, Decimal("1.0000"))


def test_referrals_triggered_and_completed(june, chronic):
    assert value(june, "chronic_referrals_triggered", "institution", chronic.village.pk)[0] == 2
    assert value(june, "chronic_referrals_completed", "institution", chronic.village.pk)[0] == 1
    assert value(june, "chronic_referrals_completed", "township", chronic.township.pk)[0] == 1


def test_contract_coverage_of_registered_residents(june, chronic):
    assert value(june, "contract_coverage_rural", "institution", chronic.village.pk) == (2, 8, Decimal("0.2500"))
    assert value(june, "contract_coverage_rural", "township", chronic.township.pk) == (2, 8, Decimal("0.2500"))
    assert value(june, "contract_coverage_urban", "institution", chronic.city.pk) == (0, 1, Decimal("0.0000"))
    # Coverage is the ratio of two counts of their own, each shown beside it.
    assert value(june, "residents_contracted_rural", "township", chronic.township.pk)[0] == 2
    assert value(june, "residents_registered_rural", "township", chronic.township.pk)[0] == 8
    assert value(june, "residents_registered_urban", "institution", chronic.city.pk)[0] == 1


def test_a_snapshot_month_after_today_is_not_computed(chronic):
    values = compute(JUNE, datetime.date(2026, 12, 31), TODAY)
    assert not [key for key in values if key[0] == "hypertension_enrolled" and key[3] > TODAY]


def test_admissions_of_patients_on_a_register(chronic):
    from records.models import EncounterKind
    from tests.factories import EncounterFactory

    people = {name: chronic.patient(name=name, created_at=REGISTERED) for name in "AEFN"}
    chronic.enrolled(people["A"], when=at(d("2025-06-01")))
    e = chronic.enrolled(people["E"], when=at(d("2025-01-01")))
    services.leave_programme(e.pk, actor=chronic.public_health, reason="迁出", now=at(d("2026-07-10")))
    f = chronic.enrolled(people["F"], when=at(d("2025-01-01")))
    services.leave_programme(f.pk, actor=chronic.public_health, reason="迁出", now=at(d("2026-05-20")))

    def visit(name, day, kind=EncounterKind.INPATIENT):
        EncounterFactory(patient=people[name], institution=chronic.city, started_at=at(d(day)), kind=kind)

    visit("A", "2026-06-08")  # on the register: counts
    visit("A", "2026-06-09", EncounterKind.OUTPATIENT)  # not an admission
    visit("E", "2026-06-20")  # still on the register in June (left in July): counts
    visit("F", "2026-06-02")  # left in May: no
    visit("N", "2026-06-03")  # never enrolled: no
    values = compute(JUNE, JUNE, TODAY)
    assert value(values, "chronic_admissions", "institution", chronic.village.pk)[0] == 2
    assert value(values, "chronic_admissions", "consortium", chronic.consortium.pk)[0] == 2
