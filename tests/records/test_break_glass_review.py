"""Break-glass done right: the home clinic's staff and the consortium's privacy officer are notified at
once, the home institution reviews each access before a deadline (overdue ones flagged), and the
privacy officer oversees the queue without reading any record.  Also the patient's printable
"who viewed my record" report and the print/export kinds of the access log."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from consortium.models import AuditEvent, StaffRole
from records.audit import RecordsAudit
from records.models import AccessAction, AccessLog, AccessOutcome, AccessReason, BreakGlassAccess
from records.services import start_break_glass
from referrals.models import Notification
from tests.factories import ConsortiumFactory, StaffFactory

pytestmark = pytest.mark.django_db

REASON = "急诊昏迷，需要查看既往用药和过敏史"


@pytest.fixture
def officer(chain):
    for key in ("clinician", "clerk"):
        chain["staff"][key].user.email = f"{key}@town.example"
        chain["staff"][key].user.save(update_fields=["email"])
    return StaffFactory(
        user__username="privacy",
        user__email="privacy@consortium.example",
        institution=None,
        consortium=chain["consortium"],
        role=StaffRole.PRIVACY_OFFICER,
    )


@pytest.fixture
def grant(chain, patients, officer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return start_break_glass(
            actor=chain["staff"]["coordinator"].user, patient=patients["town"], reason=REASON, reason_code="unconscious"
        )


def test_the_home_clinic_and_the_privacy_officer_are_notified_at_once(chain, patients, grant, officer, mailoutbox):
    other_consortium = ConsortiumFactory(code="OTHER")
    StaffFactory(user__username="elsewhere", institution=None, consortium=other_consortium, role=StaffRole.PRIVACY_OFFICER)
    notified = set(Notification.objects.values_list("recipient__username", flat=True))
    assert notified == {"clinician", "clerk", "privacy"}  # the township's log reviewers and the consortium's officer
    for notification in Notification.objects.all():
        assert patients["town"].name not in notification.text and patients["town"].resident_id not in notification.text
        assert "市中心医院" in notification.text
    links = dict(Notification.objects.values_list("recipient__username", "link"))
    assert links["privacy"] == reverse("records:break-glass-oversight") and links["clerk"] == reverse("records:index-queue")
    assert sorted(address for message in mailoutbox for address in message.to) == [
        "clerk@town.example",
        "clinician@town.example",
        "privacy@consortium.example",
    ]


def test_each_break_glass_is_due_for_review_within_the_configured_window(chain, patients, grant, settings):
    assert grant.review_due_at - grant.started_at == datetime.timedelta(hours=72)
    settings.RECORDS_BREAK_GLASS_REVIEW_HOURS = 1
    second = start_break_glass(actor=chain["staff"]["clinician"].user, patient=patients["city"], reason=REASON)
    assert second.review_due_at - second.started_at == datetime.timedelta(hours=1)
    assert not grant.review_overdue


def test_an_overdue_review_is_flagged_to_the_home_clinic_and_the_privacy_officer(chain, grant, officer, login):
    BreakGlassAccess.objects.filter(pk=grant.pk).update(review_due_at=timezone.now() - datetime.timedelta(minutes=1))
    queue = login(chain["staff"]["clerk"]).get(reverse("records:index-queue"))
    assert [g for g in queue.context["break_glass"] if g.pk == grant.pk][0].review_overdue
    assert "已逾期" in queue.content.decode() or "Overdue" in queue.content.decode()
    oversight = login(officer).get(reverse("records:break-glass-oversight"))
    assert oversight.status_code == 200 and oversight.context["overdue"] == 1 and oversight.context["awaiting"] == 1


def test_the_home_institution_reviews_justified_or_not_with_a_reason(chain, patients, grant, officer, login):
    client = login(chain["staff"]["clerk"])
    url = reverse("records:index-queue")
    Notification.objects.all().delete()
    refused = client.post(url, {"action": "reviewed", "grant": grant.pk, "outcome": "not_justified", "note": "否"}, follow=True)
    assert refused.status_code == 200 and any("10" in str(m) for m in refused.context["messages"])
    grant.refresh_from_db()
    assert grant.reviewed_at is None
    note = "急诊记录中无昏迷记载，调阅理由不成立"
    assert (
        client.post(url, {"action": "reviewed", "grant": grant.pk, "outcome": "not_justified", "note": note}).status_code == 302
    )
    grant.refresh_from_db()
    assert grant.review_outcome == "not_justified" and grant.reviewed_by == chain["staff"]["clerk"].user
    assert grant.review_note == note
    event = AuditEvent.objects.get(action=RecordsAudit.BREAK_GLASS_REVIEWED)
    assert event.detail == {"patient_id": patients["town"].pk, "outcome": "not_justified", "overdue": False}
    # Not justified: the privacy officer hears of it at once.
    assert list(Notification.objects.values_list("recipient__username", flat=True)) == ["privacy"]
    again = client.post(url, {"action": "reviewed", "grant": grant.pk, "outcome": "justified"}, follow=True)
    assert any("已" in str(m) or "already" in str(m) for m in again.context["messages"])
    assert AuditEvent.objects.filter(action=RecordsAudit.BREAK_GLASS_REVIEWED).count() == 1


def test_another_institution_cannot_review(chain, grant, login):
    response = login(chain["staff"]["coordinator"]).post(
        reverse("records:index-queue"), {"action": "reviewed", "grant": grant.pk, "outcome": "justified"}
    )
    assert response.status_code == 404
    grant.refresh_from_db()
    assert grant.reviewed_at is None


def test_the_privacy_officer_oversees_without_reading_the_record(chain, patients, grant, officer, login):
    client = login(officer)
    page = client.get(reverse("records:break-glass-oversight"))
    body = page.content.decode()
    assert page.status_code == 200 and grant in page.context["grants"]
    assert patients["town"].name not in body and f"#{patients['town'].pk}" in body and REASON in body
    assert client.get(reverse("records:patient-detail", args=[patients["town"].pk])).status_code == 404
    for who in ("clinician", "consortium_admin", "insurance"):
        assert login(chain["staff"][who]).get(reverse("records:break-glass-oversight")).status_code == 404


def test_who_viewed_my_record_is_printed_by_the_home_clinic_only_and_audited(chain, patients, grant, login):
    patient = patients["town"]
    AccessLog.objects.create(
        patient=patient,
        user=chain["staff"]["coordinator"].user,
        institution=chain["city"],
        path=f"/records/patients/{patient.pk}/",
        reason=AccessReason.BREAK_GLASS,
        break_glass=grant,
        occurred_at=timezone.make_aware(datetime.datetime(2026, 12, 1, 16, 30), datetime.UTC),
    )
    url = reverse("records:patient-access-report", args=[patient.pk])
    page = login(chain["staff"]["clerk"]).get(url)
    body = page.content.decode()
    assert page.status_code == 200
    assert chain["staff"]["coordinator"].display_name in body and "市中心医院" in body
    assert str(StaffRole.REFERRAL_COORDINATOR.label) in body
    assert "2026-12-02 00:30" in body  # Asia/Shanghai
    assert "access-report.css" in body and "<script>" not in body
    printed = AccessLog.objects.get(action=AccessAction.PRINT)
    assert printed.patient == patient and printed.user == chain["staff"]["clerk"].user
    assert AuditEvent.objects.filter(action=RecordsAudit.ACCESS_REPORT_PRINTED, object_id=str(patient.pk)).exists()
    # Staff of another institution — even one that may read the record — are refused, and that is logged.
    assert login(chain["staff"]["coordinator"]).get(url).status_code == 404
    denied = AccessLog.objects.filter(patient=patient, outcome=AccessOutcome.DENIED, path=url)
    assert denied.filter(user=chain["staff"]["coordinator"].user).exists()


def test_a_fhir_export_is_logged_as_an_export(chain, patients, login):
    patient = patients["town"]
    response = login(chain["staff"]["clinician"]).get(reverse("api-patient-fhir", args=[patient.pk]))
    assert response.status_code == 200
    assert AccessLog.objects.get(patient=patient).action == AccessAction.EXPORT
