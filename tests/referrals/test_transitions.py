"""Every transition of the table, every illegal one, and what each writes."""

import pytest
from django.core.exceptions import PermissionDenied

from consortium.models import AuditEvent, OutboxEvent
from consortium.problems import status_of
from referrals import services
from referrals.models import Referral, ReferralEvent, ReferralStatus
from referrals.transitions import TRANSITIONS, Act, Side

from .conftest import PATHS

pytestmark = pytest.mark.django_db

LEGAL = sorted(TRANSITIONS, key=lambda key: (key[0], key[1]))
ILLEGAL = sorted(
    ((status, act) for status in ReferralStatus for act in Act if (status, act) not in TRANSITIONS),
    key=lambda key: (key[0], key[1]),
)


def test_every_status_is_reachable_and_the_table_is_complete():
    targets = {t.target for t in TRANSITIONS.values()} | {ReferralStatus.DRAFT}
    assert targets == set(ReferralStatus)
    assert set(PATHS) == set(ReferralStatus)


@pytest.mark.parametrize(("source", "act"), LEGAL, ids=[f"{s}-{a}" for s, a in LEGAL])
def test_legal_transition(setting, source, act):
    referral = setting.referral_in(source)
    events, outbox, audits = ReferralEvent.objects.count(), OutboxEvent.objects.count(), AuditEvent.objects.count()
    after = setting.take(referral, act)
    after.refresh_from_db()
    assert after.status == TRANSITIONS[(source, act)].target
    event = ReferralEvent.objects.filter(referral=after).last()
    assert (event.from_status, event.to_status, event.action) == (source, after.status, act)
    assert event.actor_id == (None if TRANSITIONS[(source, act)].side == Side.SYSTEM else event.actor_id)
    extra = 1 if act == Act.REDIRECT else 0  # the successor's own first event
    assert ReferralEvent.objects.count() == events + 1 + extra
    assert OutboxEvent.objects.count() == outbox + 1 + extra
    assert AuditEvent.objects.count() >= audits + 1
    payload = OutboxEvent.objects.filter(aggregate_id=str(after.pk)).last().payload
    assert payload["status"] == after.status
    assert "李四" not in str(payload)


@pytest.mark.parametrize(("source", "act"), ILLEGAL, ids=[f"{s}-{a}" for s, a in ILLEGAL])
def test_illegal_transition_is_an_error_and_changes_nothing(setting, source, act):
    referral = setting.referral_in(source)
    events, outbox = ReferralEvent.objects.count(), OutboxEvent.objects.count()
    with pytest.raises(services.IllegalTransition) as error:
        setting.take(referral, act)
    assert status_of(error.value) == 409
    assert "cannot" in error.value.message or "不能" in error.value.message
    referral.refresh_from_db()
    assert referral.status == source
    assert (ReferralEvent.objects.count(), OutboxEvent.objects.count()) == (events, outbox)


@pytest.mark.parametrize(
    ("status", "act", "who"),
    [
        (ReferralStatus.SUBMITTED, "accept", "clinician"),
        (ReferralStatus.SUBMITTED, "reject", "clinician"),
        (ReferralStatus.SUBMITTED, "cancel", "coordinator"),
        (ReferralStatus.DRAFT, "submit", "coordinator"),
        (ReferralStatus.SUBMITTED, "review", "clerk"),
        (ReferralStatus.SUBMITTED, "accept", "outsider"),
        (ReferralStatus.SUBMITTED, "accept", "consortium_admin"),
        (ReferralStatus.SUBMITTED, "accept", "insurance"),
        (ReferralStatus.SUBMITTED, "cancel", "clerk"),
        (ReferralStatus.ACCEPTED, "arrive", "clinician"),
    ],
)
def test_wrong_side_is_denied_and_changes_nothing(setting, status, act, who):
    referral = setting.referral_in(status)
    with pytest.raises(PermissionDenied):
        setting.take(referral, act, actor=setting.staff[who].user)
    referral.refresh_from_db()
    assert referral.status == status


def test_a_user_cannot_take_the_system_expiry(setting):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    with pytest.raises(PermissionDenied):
        services._transition(referral.pk, Act.EXPIRE, actor=setting.coordinator)


def test_hospital_administrator_may_also_triage(setting):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    assert setting.take(referral, "review", actor=setting.hospital_admin).status == ReferralStatus.UNDER_REVIEW


@pytest.mark.parametrize("act", ["reject", "redirect"])
def test_decision_needs_a_reason(setting, act):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    with pytest.raises(services.ReferralError) as error:
        setting.take(referral, act, reason="  ")
    assert error.value.field == "reason"
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.SUBMITTED
    assert Referral.objects.count() == 1


def test_submit_sets_due_time_and_notifies_coordinators(setting):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    assert referral.due_at - referral.submitted_at == __import__("datetime").timedelta(hours=24)
    note = setting.coordinator.referral_notifications.get()
    assert f"#{referral.pk}" in note.text and "李四" not in note.text
    assert note.link == f"/referrals/{referral.pk}/"


def test_accept_books_the_slot_and_tells_the_sender(setting):
    referral = setting.referral_in(ReferralStatus.ACCEPTED)
    setting.slot.refresh_from_db()
    assert setting.slot.booked == 1
    assert referral.appointment_at == setting.slot.starts_at
    assert referral.decided_at is not None
    assert setting.clinician.referral_notifications.filter(text__contains=f"#{referral.pk}").exists()


def test_redirect_opens_a_submitted_successor(setting):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    setting.take(referral, "redirect", to_department=setting.county_medicine, reason="县医院可处理")
    successor = Referral.objects.get(redirected_from=referral)
    assert successor.status == ReferralStatus.SUBMITTED
    assert successor.to_institution == setting.county
    assert successor.from_institution == setting.township
    assert successor.due_at is not None
    referral.refresh_from_db()
    assert referral.decision_reason == "县医院可处理"


@pytest.mark.parametrize("target", ["cardiology", "pharmacy"])
def test_redirect_needs_another_department_that_takes_referrals(setting, target):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    with pytest.raises(services.ReferralError) as error:
        setting.take(referral, "redirect", to_department=getattr(setting, target))
    assert error.value.field == "to_department"
    assert Referral.objects.count() == 1
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.SUBMITTED


#: The transitions that tell the other side (a draft's cancellation tells no one: it was never sent).
NOTIFYING = [
    (s, a)
    for s, a in LEGAL
    if a in {Act.SUBMIT, Act.CANCEL, Act.ACCEPT, Act.REJECT, Act.COMPLETE, Act.REDIRECT}
    and (s, a) != (ReferralStatus.DRAFT, Act.CANCEL)
]


@pytest.mark.parametrize(("source", "act"), NOTIFYING, ids=[f"{s}-{a}" for s, a in NOTIFYING])
def test_notifications_are_written_in_the_transition_transaction(setting, source, act, monkeypatch):
    """A failure writing the notifications undoes the transition: both land, or neither."""
    referral = setting.referral_in(source)
    events = ReferralEvent.objects.count()

    def broken_notify(*args, **kwargs):
        raise RuntimeError("notification store unavailable")

    monkeypatch.setattr(services, "notify", broken_notify)
    with pytest.raises(RuntimeError):
        setting.take(referral, act)
    referral.refresh_from_db()
    assert referral.status == source
    assert ReferralEvent.objects.count() == events
