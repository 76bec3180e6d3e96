"""The home pages' worklists: what the clinic and the coordinator must do today, as links."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from referrals import services
from referrals.models import FollowUpTask, Referral, ReferralStatus

pytestmark = pytest.mark.django_db


def test_the_clinic_home_lists_incoming_referrals_and_follow_ups_due_and_overdue(setting, login):
    upward = setting.referral_in(ReferralStatus.IN_TREATMENT)
    today = timezone.localdate()
    downward = services.discharge_with_downward_referral(
        upward.pk,
        actor=setting.coordinator,
        discharge_summary="血压平稳出院",
        tasks=[{"kind": "revisit", "due_on": today + datetime.timedelta(days=7)}],
    )
    FollowUpTask.objects.filter(referral=downward).update(due_on=today - datetime.timedelta(days=2))
    FollowUpTask.objects.create(referral=downward, kind="medication_review", due_on=today)
    FollowUpTask.objects.create(referral=downward, kind="revisit", due_on=today + datetime.timedelta(days=3))
    page = login(setting.staff["clinician"]).get(reverse("home"))
    follow_ups = page.context["follow_ups"]
    assert [t.kind for t in follow_ups["overdue"]] == ["revisit"]
    assert [t.kind for t in follow_ups["today"]] == ["medication_review"]
    assert downward in list(page.context["incoming"])
    html = page.content.decode()
    assert reverse("referrals:detail", args=[downward.pk]) in html
    assert 'id="follow-ups-due"' in html and 'id="incoming-referrals"' in html


def test_the_coordinator_home_lists_overdue_decisions_and_todays_arrivals(setting, login):
    waiting = setting.referral_in(ReferralStatus.SUBMITTED)
    Referral.objects.filter(pk=waiting.pk).update(due_at=timezone.now() - datetime.timedelta(hours=2))
    coming = setting.referral_in(ReferralStatus.ACCEPTED)
    later_today = timezone.localtime().replace(hour=23, minute=0, second=0, microsecond=0)
    Referral.objects.filter(pk=coming.pk).update(appointment_at=later_today)
    tomorrow = setting.referral_in(ReferralStatus.ACCEPTED)
    Referral.objects.filter(pk=tomorrow.pk).update(appointment_at=later_today + datetime.timedelta(days=1))
    page = login(setting.staff["coordinator"]).get(reverse("home"))
    assert list(page.context["overdue"]) == [waiting]
    assert list(page.context["arrivals"]) == [coming]
    html = page.content.decode()
    assert 'id="expected-arrivals"' in html and reverse("referrals:detail", args=[coming.pk]) in html
