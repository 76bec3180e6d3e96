"""Due times per urgency and consortium, escalation (coordinator, then administrator) and expiry, on a frozen clock."""

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core import mail

from referrals import services, tasks
from referrals.models import Notification, ReferralDueTimePolicy, ReferralStatus

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
H = datetime.timedelta(hours=1)


@pytest.fixture
def submitted(setting):
    for who in ("clinician", "coordinator", "hospital_admin"):
        user = setting.staff[who].user
        user.email = f"{who}@example.org"
        user.save()
    referral = setting.draft(urgency="urgent")
    return services.submit_referral(referral.pk, actor=setting.clinician, now=T0)


def test_due_time_follows_the_default_policy(setting):
    for urgency, hours in (("routine", 72), ("urgent", 24), ("emergency", 2)):
        referral = services.submit_referral(setting.draft(urgency=urgency).pk, actor=setting.clinician, now=T0)
        assert referral.due_at == T0 + hours * H


def test_due_time_follows_the_consortium_policy(setting, chain):
    ReferralDueTimePolicy.objects.create(consortium=chain["consortium"], urgent_hours=6, emergency_hours=1)
    referral = services.submit_referral(setting.draft(urgency="urgent").pk, actor=setting.clinician, now=T0)
    assert referral.due_at == T0 + 6 * H


def test_due_time_ignores_a_consortium_the_receiver_has_left(setting, chain):
    from tests.factories import ConsortiumFactory, MembershipFactory

    former = ConsortiumFactory(name="旧医联体")
    MembershipFactory(consortium=former, institution=setting.township)
    ended = {"agreement_start": datetime.date(2020, 1, 1), "agreement_end": datetime.date(2021, 1, 1)}
    MembershipFactory(consortium=former, institution=setting.city, **ended)
    ReferralDueTimePolicy.objects.create(consortium=former, urgent_hours=3)
    referral = services.submit_referral(setting.draft(urgency="urgent").pk, actor=setting.clinician, now=T0)
    assert referral.due_at == T0 + 24 * H  # the shared consortium has no policy of its own: the defaults


def test_escalation_then_expiry(setting, submitted, django_capture_on_commit_callbacks):
    assert services.escalate_overdue_referrals(now=T0 + 23 * H) == {"coordinator": 0, "administrator": 0, "expired": 0}

    with django_capture_on_commit_callbacks(execute=True):
        counts = services.escalate_overdue_referrals(now=T0 + 25 * H)
    assert counts["coordinator"] == 1
    submitted.refresh_from_db()
    assert (submitted.escalation_level, submitted.escalated_at) == (1, T0 + 25 * H)
    assert Notification.objects.filter(recipient=setting.coordinator, text__contains="小时").exists()
    assert not Notification.objects.filter(recipient=setting.hospital_admin).exists()
    assert [m.to for m in mail.outbox] == [["coordinator@example.org"]]
    assert "李四" not in mail.outbox[0].body

    assert services.escalate_overdue_referrals(now=T0 + 30 * H)["coordinator"] == 0  # once per level

    with django_capture_on_commit_callbacks(execute=True):
        assert services.escalate_overdue_referrals(now=T0 + 49 * H)["administrator"] == 1
    assert Notification.objects.filter(recipient=setting.hospital_admin).count() == 1
    assert mail.outbox[-1].to == ["hospital_admin@example.org"]

    with django_capture_on_commit_callbacks(execute=True):
        assert services.escalate_overdue_referrals(now=T0 + 97 * H)["expired"] == 1
    submitted.refresh_from_db()
    assert submitted.status == ReferralStatus.EXPIRED
    last = submitted.events.get(action="expire")
    assert (last.from_status, last.actor_id, last.occurred_at) == ("submitted", None, T0 + 97 * H)
    assert setting.clinician.referral_notifications.filter(text__contains="已过期").exists()
    assert mail.outbox[-1].to == ["clinician@example.org"]


def test_decided_referrals_are_left_alone(setting, submitted):
    setting.take(submitted, "accept", now=T0 + H)
    assert services.escalate_overdue_referrals(now=T0 + 200 * H) == {"coordinator": 0, "administrator": 0, "expired": 0}
    submitted.refresh_from_db()
    assert submitted.status == ReferralStatus.ACCEPTED


def test_consortium_policy_changes_escalation_and_expiry(setting, chain):
    ReferralDueTimePolicy.objects.create(
        consortium=chain["consortium"], urgent_hours=4, administrator_after_hours=2, expire_after_hours=8
    )
    referral = services.submit_referral(setting.draft(urgency="urgent").pk, actor=setting.clinician, now=T0)
    assert services.escalate_overdue_referrals(now=T0 + 5 * H)["coordinator"] == 1
    assert services.escalate_overdue_referrals(now=T0 + 7 * H)["administrator"] == 1
    assert services.escalate_overdue_referrals(now=T0 + 13 * H)["expired"] == 1
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.EXPIRED


def test_beat_task_runs_the_service(setting, submitted):
    submitted.due_at = T0 - H
    submitted.save()
    result = tasks.escalate_overdue_referrals.apply().get()
    assert result["expired"] == 1  # the real clock is far past T0 + the expiry window


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_beat_task(chain, celery_worker_process):
    import time

    from .conftest import Setting

    setting = Setting(chain)
    referral = services.submit_referral(setting.draft().pk, actor=setting.clinician, now=T0)
    from config.celery import app

    app.send_task(tasks.escalate_overdue_referrals.name)  # the project's app, whatever another test made current
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        referral.refresh_from_db()
        if referral.status == ReferralStatus.EXPIRED:
            break
        time.sleep(0.3)
    assert referral.status == ReferralStatus.EXPIRED
    assert Notification.objects.filter(recipient=setting.clinician, referral=referral, text__contains="已过期").exists()


def test_consortium_administrator_sets_due_times_on_the_web(setting, chain, login):
    from django.urls import reverse

    client = login(chain["staff"]["consortium_admin"])
    page = client.get(reverse("referrals:due-times"))
    assert page.status_code == 200 and page.context["form"].initial["urgent_hours"] == 24
    data = {
        "routine_hours": 48,
        "urgent_hours": 8,
        "emergency_hours": 1,
        "administrator_after_hours": 4,
        "expire_after_hours": 12,
    }
    bad = client.post(reverse("referrals:due-times"), {**data, "expire_after_hours": 4})
    assert "expire_after_hours" in bad.context["form"].errors
    assert "emergency_hours" in client.post(reverse("referrals:due-times"), {**data, "emergency_hours": 0}).context["form"].errors
    assert not ReferralDueTimePolicy.objects.exists()
    assert client.post(reverse("referrals:due-times"), data).status_code == 302
    referral = services.submit_referral(setting.draft(urgency="urgent").pk, actor=setting.clinician, now=T0)
    assert referral.due_at == T0 + 8 * H
    for who in ("clinician", "coordinator", "hospital_admin"):
        assert login(chain["staff"][who]).get(reverse("referrals:due-times")).status_code == 403


def test_only_the_consortiums_administrator_may_set_its_policy(setting, chain):
    from tests.factories import ConsortiumFactory

    hours = {"routine_hours": 1, "urgent_hours": 1, "emergency_hours": 1, "administrator_after_hours": 1, "expire_after_hours": 2}
    with pytest.raises(services.PermissionDenied):
        services.set_due_time_policy(actor=setting.coordinator, consortium=chain["consortium"], **hours)
    with pytest.raises(services.PermissionDenied):
        services.set_due_time_policy(actor=chain["staff"]["consortium_admin"].user, consortium=ConsortiumFactory(), **hours)


def test_a_late_first_run_alerts_coordinators_and_administrators_together(setting, submitted):
    assert services.escalate_overdue_referrals(now=T0 + 50 * H)["administrator"] == 1
    assert Notification.objects.filter(recipient=setting.coordinator, text__contains="已超过处理时限").exists()
    assert Notification.objects.filter(recipient=setting.hospital_admin, text__contains="已超过处理时限").exists()
