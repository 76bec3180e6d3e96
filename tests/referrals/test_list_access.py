"""The referral queue, the referral lists and the follow-up list are in the access log: one entry per
request naming the patients shown, with purpose, outcome, address, user agent and the reader's role."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from consortium.audit_verify import verify_period
from consortium.models import AuditChainHead
from records.models import ListAccessLog, PurposeOfUse
from tests.factories import EncounterFactory, PatientFactory

pytestmark = pytest.mark.django_db


def _queue_of_three(setting):
    patients = [setting.patient]
    for name in ("王五", "赵六"):
        patient = PatientFactory(home_institution=setting.township, name=name)
        EncounterFactory(patient=patient, institution=setting.township)
        patients.append(patient)
    for patient in patients:
        setting.take(setting.draft(patient=patient, source_encounter=patient.encounters.first()), "submit")
    return patients


def test_the_queue_page_writes_one_entry_with_the_patients_shown(setting, login):
    patients = _queue_of_three(setting)
    client = login(setting.staff["coordinator"])
    page = client.get(reverse("referrals:queue"), HTTP_USER_AGENT="Firefox/140", REMOTE_ADDR="10.1.2.3")
    assert page.status_code == 200
    entry = ListAccessLog.objects.get()
    shown = [row["patient_id"] for row in page.context["page"].object_list]
    assert sorted(shown) == sorted(p.pk for p in patients)
    assert entry.patient_ids == shown  # in the order shown
    assert (entry.user, entry.institution, entry.role) == (setting.coordinator, setting.city, "referral_coordinator")
    assert (entry.action, entry.purpose, entry.outcome) == ("list", PurposeOfUse.COORDINATION, "allowed")
    assert (entry.path, entry.ip, entry.user_agent) == ("/referrals/queue/", "10.1.2.3", "Firefox/140")


def test_a_refused_queue_request_is_logged_as_denied(setting, login):
    _queue_of_three(setting)
    client = login(setting.staff["clerk"])  # a township clerk triages nothing
    assert client.get(reverse("referrals:queue")).status_code == 403
    entry = ListAccessLog.objects.get()
    assert (entry.outcome, entry.patient_ids, entry.user.username) == ("denied", [], "clerk")


def test_an_empty_queue_writes_nothing(setting, login):
    assert login(setting.staff["coordinator"]).get(reverse("referrals:queue")).status_code == 200
    assert not ListAccessLog.objects.exists()


def test_the_referral_list_and_the_queue_api_log_their_pages(setting, login):
    patients = _queue_of_three(setting)
    client = login(setting.staff["clinician"])
    assert client.get(reverse("referrals:list")).status_code == 200
    api = APIClient()
    api.force_login(setting.coordinator)
    assert api.get("/api/v1/referrals/queue/?limit=2").status_code == 200
    assert api.get("/api/v1/referrals/").status_code == 200
    listing, queue, api_list = ListAccessLog.objects.order_by("pk")
    assert (listing.user, sorted(listing.patient_ids)) == (setting.clinician, sorted(p.pk for p in patients))
    assert (queue.path, len(queue.patient_ids), queue.purpose) == ("/api/v1/referrals/queue/", 2, PurposeOfUse.COORDINATION)
    assert sorted(api_list.patient_ids) == sorted(p.pk for p in patients)


def test_list_entries_join_the_audit_chain(setting, login):
    _queue_of_three(setting)
    client = login(setting.staff["coordinator"])
    for _ in range(3):
        client.get(reverse("referrals:queue"))
    entries = list(ListAccessLog.objects.order_by("chain_seq"))
    assert len(entries) == 3 and all(entry.row_hash for entry in entries)
    head = AuditChainHead.objects.get(period=entries[0].chain_period)
    assert verify_period(head.period, head).ok
    assert head.count >= entries[-1].chain_seq


def test_who_viewed_my_record_shows_the_lists_the_patient_was_seen_in(setting, login):
    patients = _queue_of_three(setting)
    login(setting.staff["coordinator"]).get(reverse("referrals:queue"))
    other = PatientFactory(home_institution=setting.township, name="孙七")  # never listed
    client = login(setting.staff["clerk"])
    report = client.get(reverse("records:patient-access-report", args=[patients[1].pk]))
    assert report.status_code == 200
    listed = [entry for entry, _where in report.context["entries"] if isinstance(entry, ListAccessLog)]
    assert [entry.path for entry in listed] == ["/referrals/queue/"]
    body = report.content.decode()
    assert setting.staff["coordinator"].display_name in body
    log = client.get(reverse("records:patient-access-log", args=[other.pk]))
    assert not [entry for entry in log.context["entries"] if isinstance(entry, ListAccessLog)]
    api = APIClient()
    api.force_login(setting.staff["clerk"].user)
    rows = api.get(f"/api/v1/patients/{patients[1].pk}/access-log/").json()
    assert [(row["action"], row["purpose"], row["path"]) for row in rows if row["action"] == "list"] == [
        ("list", "COC", "/referrals/queue/")
    ]
