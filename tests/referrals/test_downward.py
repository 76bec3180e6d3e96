"""Downward referral at discharge, the clinic's follow-up tasks and their escalation, and satisfaction."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from consortium.models import OutboxEvent
from referrals import selectors, services
from referrals.models import Direction, FollowUpStatus, FollowUpTask, Notification, Referral, ReferralStatus, SatisfactionRating

pytestmark = pytest.mark.django_db


def _plan(days=(7, 30)):
    today = timezone.localdate()
    return [
        {"kind": "revisit", "due_on": today + datetime.timedelta(days=days[0]), "instructions": "复查血压"},
        {"kind": "medication_review", "due_on": today + datetime.timedelta(days=days[1])},
    ]


def _discharge(setting, **kwargs):
    referral = setting.referral_in(ReferralStatus.IN_TREATMENT)
    options = {"actor": setting.coordinator, "discharge_summary": "血压平稳出院", "tasks": _plan()}
    options.update(kwargs)
    return referral, services.discharge_with_downward_referral(referral.pk, **options)


def test_discharge_completes_upward_and_sends_the_patient_down(setting):
    upward, downward = _discharge(setting)
    upward.refresh_from_db()
    assert upward.status == ReferralStatus.COMPLETED
    assert (downward.direction, downward.status, downward.to_institution) == (
        Direction.DOWN,
        ReferralStatus.SUBMITTED,
        setting.township,
    )
    assert downward.upward_referral == upward
    assert downward.follow_up_tasks.count() == 2
    assert OutboxEvent.objects.filter(event_type="discharge", aggregate_id=str(downward.pk)).exists()
    assert Notification.objects.filter(recipient=setting.clinician, referral=downward).exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"discharge_summary": " "}, "discharge_summary"),
        ({"tasks": []}, "tasks"),
        ({"tasks": [{"kind": "dance", "due_on": timezone.localdate()}]}, "tasks"),
        ({"tasks": [{"kind": "revisit", "due_on": timezone.localdate() - datetime.timedelta(days=1)}]}, "tasks"),
        ({"to_institution": "city"}, "to_institution"),
    ],
)
def test_bad_discharge_is_refused_and_nothing_is_written(setting, changes, field):
    referral = setting.referral_in(ReferralStatus.IN_TREATMENT)
    if changes.get("to_institution") == "city":
        changes["to_institution"] = setting.city
    options = {"actor": setting.coordinator, "discharge_summary": "出院", "tasks": _plan()}
    options.update(changes)
    with pytest.raises(services.ReferralError) as error:
        services.discharge_with_downward_referral(referral.pk, **options)
    assert error.value.field == field
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.IN_TREATMENT
    assert not Referral.objects.filter(direction=Direction.DOWN).exists()
    assert not FollowUpTask.objects.exists()


def test_clinic_acknowledges_and_records_follow_ups(setting):
    _upward, downward = _discharge(setting)
    with pytest.raises(PermissionDenied):
        services.accept_referral(downward.pk, actor=setting.coordinator)
    downward = services.accept_referral(downward.pk, actor=setting.clinician)
    assert downward.status == ReferralStatus.ACCEPTED
    tasks = list(selectors.follow_up_tasks_for(setting.clinician))
    assert [t.kind for t in tasks] == ["revisit", "medication_review"]
    assert list(selectors.follow_up_tasks_for(setting.staff["outsider"].user)) == []
    with pytest.raises(services.ReferralError):
        services.complete_follow_up_task(tasks[0].pk, actor=setting.clinician, outcome="")
    done = services.complete_follow_up_task(tasks[0].pk, actor=setting.clinician, outcome="血压130/80")
    assert done.status == FollowUpStatus.DONE
    with pytest.raises(services.IllegalTransition):
        services.complete_follow_up_task(tasks[0].pk, actor=setting.clinician, outcome="again")
    with pytest.raises(PermissionDenied):
        services.complete_follow_up_task(tasks[1].pk, actor=setting.coordinator, outcome="x")


def test_overdue_follow_ups_escalate_once(setting):
    _upward, downward = _discharge(setting)
    later = timezone.now() + datetime.timedelta(days=8)
    assert services.escalate_overdue_follow_ups(now=later) == 1
    assert services.escalate_overdue_follow_ups(now=later) == 0
    assert Notification.objects.filter(recipient=setting.clinician, text__contains=f"#{downward.pk}").count() == 2
    assert Notification.objects.filter(recipient=setting.coordinator, link="/referrals/follow-ups/").count() == 1
    assert services.escalate_overdue_follow_ups(now=timezone.now() + datetime.timedelta(days=31)) == 1


def test_satisfaction_after_completion_by_the_sending_clinic(setting):
    upward, _downward = _discharge(setting)
    with pytest.raises(PermissionDenied):
        services.record_satisfaction(upward.pk, actor=setting.coordinator, score=5)
    for score in (0, 6):
        with pytest.raises(services.ReferralError) as error:
            services.record_satisfaction(upward.pk, actor=setting.clinician, score=score)
        assert error.value.field == "score"
    services.record_satisfaction(upward.pk, actor=setting.clinician, score=4, comment="服务好")
    with pytest.raises(services.IllegalTransition):
        services.record_satisfaction(upward.pk, actor=setting.clinician, score=5)
    assert selectors.satisfaction_summary()["市中心医院"] == {"average": 4.0, "count": 1}


def test_satisfaction_before_completion_is_refused(setting):
    referral = setting.referral_in(ReferralStatus.ACCEPTED)
    with pytest.raises(services.IllegalTransition):
        services.record_satisfaction(referral.pk, actor=setting.clinician, score=5)
    assert not SatisfactionRating.objects.exists()


def test_valid_referral_for_insurance(setting):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    later = timezone.now() + datetime.timedelta(days=1)
    assert not selectors.has_valid_referral(setting.patient, setting.city, later)
    setting.take(referral, "accept")
    assert selectors.has_valid_referral(setting.patient, setting.city, later)
    assert not selectors.has_valid_referral(setting.patient, setting.county, later)
    assert not selectors.has_valid_referral(setting.patient, setting.city, referral.submitted_at - datetime.timedelta(days=1))
