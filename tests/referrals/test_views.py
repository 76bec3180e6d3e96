"""The referral web pages: forms, errors shown as form errors, scoping and the queue."""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from referrals import attachments, views
from referrals.models import Referral, ReferralAttachment, ReferralSlot, ReferralStatus
from tests.clock import frozen_at

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _create_url(setting):
    return reverse("referrals:create") + f"?encounter={setting.encounter.pk}"


def _form(setting, **changes):
    data = {"to_department": setting.cardiology.pk, "urgency": "urgent", "reason": "胸痛待查"}
    data.update(changes)
    return data


def test_clinician_sends_a_referral_with_attachments(setting, login):
    client = login(setting.staff["clinician"])
    page = client.get(_create_url(setting))
    assert page.status_code == 200
    assert "I10" in page.content.decode() and "原发性高血压" in page.content.decode()
    assert "心内科" in page.content.decode()
    files = [SimpleUploadedFile("ecg.pdf", PDF), SimpleUploadedFile("xray.png", PNG)]
    response = client.post(_create_url(setting), _form(setting, attachments=files))
    referral = Referral.objects.get()
    assert response.status_code == 302 and response.url == reverse("referrals:detail", args=[referral.pk])
    assert referral.status == ReferralStatus.SUBMITTED
    assert referral.clinical_summary["diagnoses"][0]["code"] == "I10"
    assert sorted(a.content_type for a in referral.attachments.all()) == ["application/pdf", "image/png"]
    item = referral.attachments.get(content_type="application/pdf")
    download = client.get(reverse("referrals:attachment", args=[referral.pk, item.pk]))
    assert download.status_code == 200 and b"".join(download.streaming_content) == PDF
    assert login(setting.staff["outsider"]).get(reverse("referrals:attachment", args=[referral.pk, item.pk])).status_code == 404


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (SimpleUploadedFile("fake.pdf", b"MZ\x90\x00 not a pdf"), "PDF"),
        (SimpleUploadedFile("empty.pdf", b""), ""),
    ],
)
def test_bad_attachment_is_a_form_error_and_nothing_is_written(setting, login, upload, message):
    response = login(setting.staff["clinician"]).post(_create_url(setting), _form(setting, attachments=[upload]))
    assert response.status_code == 200
    assert response.context["form"].errors
    assert message in str(response.context["form"].errors)
    assert not Referral.objects.exists() and not ReferralAttachment.objects.exists()


def test_oversized_attachment_is_refused(setting, login, monkeypatch):
    monkeypatch.setattr(attachments, "MAX_BYTES", 10)
    response = login(setting.staff["clinician"]).post(
        _create_url(setting), _form(setting, attachments=[SimpleUploadedFile("a.pdf", PDF)])
    )
    assert "attachments" in response.context["form"].errors
    assert not Referral.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"reason": ""}, "reason"), ({"urgency": "whenever"}, "urgency"), ({"to_department": "pharmacy"}, "to_department")],
)
def test_bad_referral_form_shows_field_errors(setting, login, changes, field):
    if changes.get("to_department") == "pharmacy":
        changes["to_department"] = setting.pharmacy.pk
    response = login(setting.staff["clinician"]).post(_create_url(setting), _form(setting, **changes))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Referral.objects.exists()


def test_draft_then_submit_from_the_detail_page(setting, login):
    client = login(setting.staff["clinician"])
    client.post(_create_url(setting), {**_form(setting), "save_draft": "1"})
    referral = Referral.objects.get()
    assert referral.status == ReferralStatus.DRAFT
    response = client.post(reverse("referrals:act", args=[referral.pk, "submit"]))
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.SUBMITTED


def test_clerk_and_hospital_may_not_start_referrals_here(setting, login):
    assert login(setting.staff["clerk"]).get(_create_url(setting)).status_code == 403
    assert login(setting.staff["insurance"]).get(reverse("referrals:create")).status_code == 403


def test_visit_of_another_institution_is_not_found(setting, login):
    assert login(setting.staff["outsider"]).get(_create_url(setting)).status_code in (403, 404)


def test_coordinator_queue_filters_and_accepts(setting, login):
    urgent = setting.referral_in(ReferralStatus.SUBMITTED)
    routine = setting.draft(urgency="routine")
    setting.take(routine, "submit")
    client = login(setting.staff["coordinator"])
    page = client.get(reverse("referrals:queue"))
    assert [r["id"] for r in page.context["page"].object_list] == [urgent.pk, routine.pk]  # by due time
    filtered = client.get(reverse("referrals:queue"), {"urgency": "routine"})
    assert [r["id"] for r in filtered.context["page"].object_list] == [routine.pk]
    assert client.get(reverse("referrals:queue"), {"waiting": "24h"}).context["page"].paginator.count == 0
    by_department = client.get(reverse("referrals:queue"), {"department": setting.neurology.pk})
    assert by_department.context["page"].paginator.count == 0
    detail = client.get(reverse("referrals:detail", args=[urgent.pk]))
    assert "action-accept" in detail.content.decode()
    response = client.post(reverse("referrals:act", args=[urgent.pk, "accept"]), {"accept-slot": setting.slot.pk})
    assert response.status_code == 302
    urgent.refresh_from_db()
    assert urgent.status == ReferralStatus.ACCEPTED
    home = login(setting.staff["clinician"]).get(reverse("home"))
    assert reverse("referrals:detail", args=[urgent.pk]) in home.content.decode()


def test_reject_without_reason_is_a_form_error(setting, login):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    response = login(setting.staff["coordinator"]).post(
        reverse("referrals:act", args=[referral.pk, "reject"]), {"reject-reason": ""}
    )
    assert response.status_code == 400
    assert "reason" in response.context["actions"][[a for a, _l, _f in response.context["actions"]].index("reject")][2].errors
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.SUBMITTED


def test_full_slot_is_a_form_error(setting, login):
    setting.slot.capacity = 1
    setting.slot.booked = 1
    setting.slot.save()
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    response = login(setting.staff["coordinator"]).post(
        reverse("referrals:act", args=[referral.pk, "accept"]), {"accept-slot": setting.slot.pk}
    )
    assert response.status_code == 400  # the full slot is no longer offered
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.SUBMITTED


def test_illegal_action_is_shown_as_an_error(setting, login):
    referral = setting.referral_in(ReferralStatus.REJECTED)
    response = login(setting.staff["coordinator"]).post(reverse("referrals:act", args=[referral.pk, "arrive"]))
    assert response.status_code == 400
    assert response.context["action_error"][1].non_field_errors()
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.REJECTED


def test_unknown_action_is_not_found(setting, login):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    assert login(setting.staff["coordinator"]).post(reverse("referrals:act", args=[referral.pk, "explode"])).status_code == 404


@pytest.mark.parametrize("who", ["outsider", "insurance"])
def test_referral_of_others_is_not_found(setting, login, who):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    client = login(setting.staff[who])
    assert client.get(reverse("referrals:detail", args=[referral.pk])).status_code == 404
    assert client.post(reverse("referrals:act", args=[referral.pk, "accept"])).status_code == 404


def test_wrong_side_gets_no_action_forms_and_a_403(setting, login):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    client = login(setting.staff["clinician"])
    detail = client.get(reverse("referrals:detail", args=[referral.pk]))
    assert [a for a, _l, _f in detail.context["actions"]] == ["cancel"]
    assert client.post(reverse("referrals:act", args=[referral.pk, "review"])).status_code == 403


def _slot_rows(*rows):
    data = {"slots-TOTAL_FORMS": str(len(rows)), "slots-INITIAL_FORMS": "0"}
    for i, row in enumerate(rows):
        data |= {f"slots-{i}-{key}": value for key, value in row.items()}
    return data


def test_slots_page_opens_slots_with_form_errors(setting, login):
    client = login(setting.staff["coordinator"])
    start = (timezone.localtime() + datetime.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    later = (timezone.localtime() + datetime.timedelta(days=4)).strftime("%Y-%m-%dT%H:%M")
    row = {"department": setting.cardiology.pk, "starts_at": start, "capacity": 5}
    before = ReferralSlot.objects.count()
    assert client.post(reverse("referrals:slots"), _slot_rows(row, row | {"starts_at": later})).status_code == 302
    assert ReferralSlot.objects.count() == before + 2
    past = (timezone.localtime() - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(reverse("referrals:slots"), _slot_rows(row, row | {"starts_at": past}))
    assert "starts_at" in response.context["formset"].forms[1].errors
    response = client.post(reverse("referrals:slots"), _slot_rows(row | {"capacity": 0}))
    assert "capacity" in response.context["formset"].forms[0].errors
    assert ReferralSlot.objects.count() == before + 2, "a batch with a bad row opens nothing"
    assert login(setting.staff["clinician"]).get(reverse("referrals:slots")).status_code == 403


def test_a_half_filled_slot_row_is_refused_on_that_row(setting, login):
    client = login(setting.staff["coordinator"])
    start = (timezone.localtime() + datetime.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    full = {"department": setting.cardiology.pk, "starts_at": start, "capacity": 5}
    before = ReferralSlot.objects.count()
    response = client.post(reverse("referrals:slots"), _slot_rows(full, {"department": "", "starts_at": start, "capacity": ""}))
    assert response.status_code == 200
    errors = response.context["formset"].forms[1].errors
    assert "department" in errors and "capacity" in errors
    assert ReferralSlot.objects.count() == before


def test_a_follow_up_row_with_only_instructions_is_refused_not_dropped(setting, login):
    referral = setting.referral_in(ReferralStatus.IN_TREATMENT)
    client = login(setting.staff["coordinator"])
    due = (timezone.localdate() + datetime.timedelta(days=7)).isoformat()
    data = {
        "discharge_summary": "好转出院",
        "discharged_on": timezone.localdate().isoformat(),
        "dx-TOTAL_FORMS": "1",
        "dx-INITIAL_FORMS": "0",
        "dx-0-code": "I10",
        "rx-TOTAL_FORMS": "1",
        "rx-INITIAL_FORMS": "0",
        "tasks-TOTAL_FORMS": "2",
        "tasks-INITIAL_FORMS": "0",
        "tasks-0-kind": "revisit",
        "tasks-0-due_on": due,
        "tasks-1-kind": "",
        "tasks-1-due_on": "",
        "tasks-1-instructions": "两周后复查血常规",
    }
    response = client.post(reverse("referrals:discharge", args=[referral.pk]), data)
    assert response.status_code == 200
    errors = response.context["formset"].forms[1].errors
    assert "kind" in errors and "due_on" in errors
    assert not Referral.objects.filter(upward_referral=referral).exists()
    assert "两周后复查血常规" in response.content.decode()


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_discharge_form_suggests_follow_ups_with_dates_the_date_input_shows(setting, login, language, settings):
    settings.LANGUAGE_CODE = language
    referral = setting.referral_in(ReferralStatus.IN_TREATMENT)
    client = login(setting.staff["coordinator"])
    with frozen_at("2026-12-02T02:00+08:00"):
        page = client.get(reverse("referrals:discharge", args=[referral.pk]), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert 'name="tasks-0-due_on" value="2026-12-09"' in page
    assert 'name="tasks-1-due_on" value="2027-01-01"' in page


def test_discharge_page_and_follow_up_list(setting, login):
    referral = setting.referral_in(ReferralStatus.IN_TREATMENT)
    client = login(setting.staff["coordinator"])
    assert client.get(reverse("referrals:discharge", args=[referral.pk])).status_code == 200
    due = (timezone.localdate() + datetime.timedelta(days=7)).isoformat()
    data = {
        "discharge_summary": "",
        "discharged_on": timezone.localdate().isoformat(),
        "tasks-TOTAL_FORMS": "1",
        "tasks-INITIAL_FORMS": "0",
        "tasks-0-kind": "revisit",
        "tasks-0-due_on": due,
        "dx-TOTAL_FORMS": "1",
        "dx-INITIAL_FORMS": "0",
        "dx-0-code": "I10",
        "rx-TOTAL_FORMS": "1",
        "rx-INITIAL_FORMS": "0",
    }
    response = client.post(reverse("referrals:discharge", args=[referral.pk]), data)
    assert "discharge_summary" in response.context["form"].errors
    data["discharge_summary"] = "好转出院"
    response = client.post(reverse("referrals:discharge", args=[referral.pk]), data)
    downward = Referral.objects.get(upward_referral=referral)
    assert response.url == reverse("referrals:detail", args=[downward.pk])
    clinic = login(setting.staff["clinician"])
    tasks_page = clinic.get(reverse("referrals:follow-ups"))
    assert tasks_page.context["page"].paginator.count == 1
    task = downward.follow_up_tasks.get()
    clinic.post(reverse("referrals:follow-up-done", args=[task.pk]), {"outcome": ""})
    task.refresh_from_db()
    assert task.status == "open"
    clinic.post(reverse("referrals:follow-up-done", args=[task.pk]), {"outcome": "已复诊"})
    task.refresh_from_db()
    assert task.status == "done"
    rate = clinic.post(reverse("referrals:satisfaction", args=[referral.pk]), {"score": "9"})
    assert rate.status_code == 400 and "score" in rate.context["satisfaction_form"].errors
    assert clinic.post(reverse("referrals:satisfaction", args=[referral.pk]), {"score": "5"}).status_code == 302


def test_notifications_page_counts_and_marks_read(setting, login):
    setting.referral_in(ReferralStatus.SUBMITTED)
    client = login(setting.staff["coordinator"])
    home = client.get(reverse("home"))
    assert "(1)" in home.content.decode()
    page = client.get(reverse("referrals:notifications"))
    assert page.context["page"].paginator.count == 1
    client.post(reverse("referrals:notifications"))
    assert not setting.coordinator.referral_notifications.filter(is_read=False).exists()


def test_reading_a_referral_is_logged_as_a_record_access(setting, login):
    from records.models import AccessLog

    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    before = AccessLog.objects.count()
    login(setting.staff["coordinator"]).get(reverse("referrals:detail", args=[referral.pk]))
    log = AccessLog.objects.order_by("pk").last()
    assert AccessLog.objects.count() == before + 1
    assert (log.patient_id, log.reason, log.institution_id) == (setting.patient.pk, "referral", setting.city.pk)


def test_starting_from_a_patient_of_another_institution_is_not_found(setting, login):
    url = reverse("referrals:create") + f"?patient={setting.patient.pk}"
    assert login(setting.staff["clinician"]).get(url).status_code == 200
    assert login(setting.staff["outsider"]).get(url).status_code == 404


def test_list_page_shows_sent_and_received(setting, login):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    page = login(setting.staff["clinician"]).get(reverse("referrals:list"))
    assert [r["id"] for r in page.context["sent"].object_list] == [referral.pk]
    assert reverse("referrals:detail", args=[referral.pk]) in page.content.decode()
    assert login(setting.staff["coordinator"]).get(reverse("referrals:list")).context["received"].paginator.count == 1


def test_bad_queue_filter_is_shown_and_ignored(setting, login):
    setting.referral_in(ReferralStatus.SUBMITTED)
    page = login(setting.staff["coordinator"]).get(reverse("referrals:queue"), {"department": "abc", "urgency": "soon"})
    assert page.status_code == 200
    assert set(page.context["form"].errors) == {"department", "urgency"}
    assert "部分筛选条件无法识别" in page.content.decode()
    assert page.context["page"].paginator.count == 1


def test_sender_adds_an_attachment_before_the_decision(setting, login):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    client = login(setting.staff["clinician"])
    url = reverse("referrals:add-attachment", args=[referral.pk])
    bad = client.post(url, {"file": SimpleUploadedFile("notes.pdf", b"just text")})
    assert bad.status_code == 400 and "file" in bad.context["attachment_form"].errors
    assert client.post(url, {"file": SimpleUploadedFile("ecg.pdf", PDF)}).status_code == 302
    assert referral.attachments.count() == 1
    assert login(setting.staff["coordinator"]).post(url, {"file": SimpleUploadedFile("x.pdf", PDF)}).status_code == 403
    setting.take(referral, "reject")
    late = login(setting.staff["clinician"]).post(url, {"file": SimpleUploadedFile("late.pdf", PDF)})
    assert late.status_code == 400 and late.context["attachment_form"] is not None
    assert referral.attachments.count() == 1


def test_consortium_administrator_does_not_open_referrals(setting, login):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    assert login(setting.staff["consortium_admin"]).get(reverse("referrals:detail", args=[referral.pk])).status_code == 404


def test_queue_rows_escape_names(setting, login):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    referral.patient.name = '<img src=x onerror="alert(1)">'
    referral.patient.save()
    body = login(setting.staff["coordinator"]).get(reverse("referrals:queue")).content.decode()
    assert "<img src=x" not in body
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in body


def test_queue_pages_read_rows_with_their_total(setting, login, monkeypatch, django_assert_max_num_queries):
    for _ in range(3):
        setting.take(setting.draft(), "submit")
    client = login(setting.staff["coordinator"])
    client.get(reverse("referrals:queue"))
    # session; user with staff record and unread count; rows with total; then the one access-log entry of
    # the list (records.list_access), which is an append to the audit chain: the month's head locked
    # (SELECT ... FOR UPDATE), the entry INSERTed, the head UPDATEd — three statements, one row.
    with django_assert_max_num_queries(3 + 3):
        page = client.get(reverse("referrals:queue"))
    assert page.context["page"].paginator.count == 3

    monkeypatch.setattr(views, "QUEUE_PAGE_SIZE", 1)
    expected = list(Referral.objects.filter(to_institution=setting.city).order_by("due_at", "pk").values_list("pk", flat=True))
    seen = []
    for number in (1, 2, 3):
        paged = client.get(reverse("referrals:queue"), {"page": number}).context["page"]
        assert (paged.paginator.count, paged.paginator.num_pages, paged.number) == (3, 3, number)
        seen += [row["id"] for row in paged.object_list]
    assert seen == expected
    for asked, shown in ((9, 3), ("x", 1), (0, 3), (-1, 3)):  # as Django's paginator: past the end, the last page
        assert client.get(reverse("referrals:queue"), {"page": asked}).context["page"].number == shown


def test_empty_queue_says_so(setting, login):
    page = login(setting.staff["coordinator"]).get(reverse("referrals:queue"))
    assert page.context["page"].paginator.count == 0 and list(page.context["page"].object_list) == []
    assert "没有转诊。" in page.content.decode()


def test_new_department_appears_in_the_queue_filter(setting, login):
    from tests.factories import DepartmentFactory

    client = login(setting.staff["coordinator"])
    assert "骨科" not in client.get(reverse("referrals:queue")).content.decode()
    DepartmentFactory(institution=setting.city, code="ORTH", name="骨科", accepts_referrals=True)
    assert "骨科" in client.get(reverse("referrals:queue")).content.decode()
    setting.cardiology.accepts_referrals = False
    setting.cardiology.save()
    choices = dict(client.get(reverse("referrals:queue")).context["form"].fields["department"].choices)
    assert setting.cardiology.pk not in choices and setting.neurology.pk in choices


def test_unread_count_in_the_navigation_follows_reading(setting, login):
    setting.referral_in(ReferralStatus.SUBMITTED)
    client = login(setting.staff["coordinator"])
    assert "(1)" in client.get(reverse("referrals:queue")).content.decode()
    client.post(reverse("referrals:notifications"))
    assert "(1)" not in client.get(reverse("referrals:queue")).content.decode()


@pytest.mark.django_db(transaction=True)
def test_queue_total_is_cached_until_a_referral_changes(setting, login):
    """The total is counted once per change of the queue, and every change shows at once.

    A transactional test: the queue's version moves on after each commit, as in production.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    first = setting.referral_in(ReferralStatus.SUBMITTED)
    client = login(setting.staff["coordinator"])
    api = "/api/v1/referrals/queue/"

    def totals():
        page = client.get(reverse("referrals:queue")).context["page"].paginator.count
        return page, client.get(api).json()["count"]

    assert totals() == (1, 1)
    with CaptureQueriesContext(connection) as queries:
        assert totals() == (1, 1)
    counted = [q["sql"] for q in queries.captured_queries if 'FROM "referrals_referral"' in q["sql"] and "COUNT(" in q["sql"]]
    assert counted == []

    second = setting.draft(urgency="routine")
    assert totals() == (1, 1)  # a draft waits for no one
    setting.take(second, "submit")
    assert totals() == (2, 2)
    assert client.get(reverse("referrals:queue"), {"urgency": "routine"}).context["page"].paginator.count == 1
    setting.take(second, "reject")
    assert totals() == (1, 1)
    assert client.get(reverse("referrals:queue"), {"urgency": "routine"}).context["page"].paginator.count == 0
    setting.take(first, "redirect", to_department=setting.county_medicine)
    assert totals() == (0, 0)
    assert "没有转诊。" in client.get(reverse("referrals:queue")).content.decode()
    waiting = client.get(reverse("referrals:queue"), {"status": "redirected"}).context["page"].paginator.count
    assert waiting == 1
    assert client.get(reverse("referrals:queue"), {"status": "rejected"}).context["page"].paginator.count == 1
    Referral.objects.filter(pk=second.pk).delete()
    assert client.get(reverse("referrals:queue"), {"status": "rejected"}).context["page"].paginator.count == 0


def test_a_superuser_with_a_clinic_post_refers_as_the_clinic_does(setting, login):
    """A superuser sees every institution; the referral form still offers only the clinic's higher peers."""
    setting.clinician.is_superuser = True
    setting.clinician.save()
    page = login(setting.staff["clinician"]).get(_create_url(setting))
    assert page.status_code == 200
    offered = {department.pk for department in page.context["form"].fields["to_department"].queryset}
    assert offered == {setting.cardiology.pk, setting.neurology.pk, setting.county_medicine.pk}
