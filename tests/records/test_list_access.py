"""records.list_access: the wrapper's rules, outside any one app's pages."""

import pytest
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory

from records.list_access import audited_list, note_listed, record_list_access
from records.models import ListAccessLog, PurposeOfUse

pytestmark = pytest.mark.django_db


def test_patients_listed_outside_an_audited_view_are_refused():
    with pytest.raises(RuntimeError):
        note_listed([1])


def _request(user, method="get"):
    request = getattr(RequestFactory(), method)("/some/list/", HTTP_USER_AGENT="ua")
    request.user = user
    return request


def test_one_entry_per_request_whatever_the_tables(chain):
    from tests.factories import PatientFactory

    a, b = PatientFactory(), PatientFactory()

    @audited_list(PurposeOfUse.TREATMENT)
    def view(request):
        note_listed([a.pk, b.pk])
        note_listed([b.pk, None])  # a second table showing one of them again, and a row without a patient
        return HttpResponse("ok")

    view(_request(chain["staff"]["clinician"].user))
    entry = ListAccessLog.objects.get()
    assert (entry.patient_ids, entry.role, entry.purpose) == ([a.pk, b.pk], "clinic_clinician", "TREAT")


def test_a_refusal_is_logged_for_reads_only(chain):
    @audited_list(PurposeOfUse.PAYMENT)
    def view(request):
        raise PermissionDenied

    user = chain["staff"]["insurance"].user
    with pytest.raises(PermissionDenied):
        view(_request(user))
    with pytest.raises(PermissionDenied):
        view(_request(user, "post"))
    entry = ListAccessLog.objects.get()
    assert (entry.outcome, entry.patient_ids, entry.institution_id, entry.role) == ("denied", [], None, "insurance_officer")


def test_an_entry_is_sealed_once_and_never_changed(chain):
    from consortium.models import AppendOnlyError

    entry = record_list_access(chain["staff"]["clerk"].user, [1, 2], "/x/", purpose=PurposeOfUse.OPERATIONS)
    assert entry.row_hash and entry.chain_seq
    with pytest.raises(AppendOnlyError):
        ListAccessLog.objects.filter(pk=entry.pk).update(patient_ids=[])
    with pytest.raises(AppendOnlyError):
        entry.save()
