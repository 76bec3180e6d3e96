"""The referral form (转诊单, both directions) and the appointment slip (预约单): printed, signed, verified."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from consortium.models import AuditEvent
from referrals import services
from referrals.models import FollowUpKind, Referral, ReferralStatus
from tests.documents import verdict, verification_link

pytestmark = pytest.mark.django_db


def test_the_upward_referral_form_prints_and_verifies_until_the_referral_is_withdrawn(setting, login):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    client = login(setting.staff["clinician"])
    page = client.get(reverse("referrals:print", args=[referral.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    for text in (
        "鸣凤镇卫生院",
        "市中心医院",
        "心内科",
        "李四",
        "血压控制不佳",
        "原发性高血压",
        f"R{referral.pk:06d}",
        "<svg",
        "上转",
    ):
        assert text in page, text
    assert "患者或家属" in page and "机构盖章" in page and "print-document.css" in page
    link = verification_link(page)
    result, public = verdict(link)
    assert result == "valid" and "李*" in public and "李四" not in public and "血压" not in public
    assert AuditEvent.objects.filter(action="consortium.document_printed", object_id=str(referral.pk)).exists()
    setting.take(referral, "reject")
    assert verdict(link)[0] == "changed"


def test_the_appointment_slip_is_a5_and_a_moved_appointment_reads_changed(setting, login):
    referral = setting.referral_in(ReferralStatus.ACCEPTED)
    client = login(setting.staff["coordinator"])
    detail = client.get(reverse("referrals:detail", args=[referral.pk])).content.decode()
    assert reverse("referrals:appointment-slip", args=[referral.pk]) in detail
    page = client.get(reverse("referrals:appointment-slip", args=[referral.pk]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    local = referral.appointment_at.astimezone(datetime.timezone(datetime.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M")
    assert 'class="paper-a5"' in page and local in page and "Referral appointment slip" in page
    link = verification_link(page)
    assert verdict(link)[0] == "valid"
    assert (
        'class="paper-a4"' in client.get(reverse("referrals:appointment-slip", args=[referral.pk]) + "?paper=a4").content.decode()
    )
    Referral.objects.filter(pk=referral.pk).update(appointment_at=referral.appointment_at + datetime.timedelta(days=1))
    assert verdict(link)[0] == "changed"


def test_the_downward_referral_form_carries_the_discharge(setting, login):
    upward = setting.referral_in(ReferralStatus.IN_TREATMENT)
    tasks = [
        {"kind": FollowUpKind.values[0], "due_on": timezone.localdate() + datetime.timedelta(days=7), "instructions": "复测血压"}
    ]
    services.discharge_with_downward_referral(
        upward.pk, actor=setting.coordinator, discharge_summary="血压平稳出院，继续口服降压药", tasks=tasks
    )
    down = Referral.objects.get(upward_referral=upward)
    page = login(setting.staff["coordinator"]).get(reverse("referrals:print", args=[down.pk])).content.decode()
    assert "血压平稳出院" in page and "复测血压" in page and "下转" in page and "市中心医院" in page
    assert verdict(verification_link(page))[0] == "valid"


def test_no_print_for_a_draft_an_outsider_or_a_slip_without_appointment(setting, login):
    draft = setting.draft()
    submitted = setting.referral_in(ReferralStatus.SUBMITTED)
    client = login(setting.staff["clinician"])
    assert client.get(reverse("referrals:print", args=[draft.pk])).status_code == 404
    assert client.get(reverse("referrals:appointment-slip", args=[submitted.pk])).status_code == 404
    assert login(setting.staff["outsider"]).get(reverse("referrals:print", args=[submitted.pk])).status_code == 404
