"""Concurrent retries of one registration on PostgreSQL: exactly one patient, no error for the retry with the same key."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from records.models import Patient
from records.services import register_patient
from tests.factories import make_resident_id

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="real concurrent transactions need PostgreSQL (SQLite serialises writers)"
    ),
]


def run_concurrently(n, target):
    barrier = threading.Barrier(n)
    results, errors = [], []

    def worker(i):
        try:
            barrier.wait(timeout=10)
            results.append(target(i))
        except ValidationError as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results, errors


@pytest.mark.parametrize("same_key", [True, False])
def test_concurrent_registrations_create_one_patient(chain, same_key):
    rid = make_resident_id(sex="F")
    user = chain["staff"]["clerk"].user
    data = {"name": "郑淑珍", "sex": "F", "resident_id": rid}

    def register(i):
        key = "retry-1" if same_key else f"form-{i}"
        return register_patient(actor=user, institution=chain["township"], data=data, registration_key=key)

    results, errors = run_concurrently(4, register)
    assert Patient.objects.count() == 1
    created = [patient for patient, was_created in results if was_created]
    assert len(created) == 1
    if same_key:
        assert not errors and {patient.pk for patient, _ in results} == {created[0].pk}
    else:
        assert len(errors) == 3 and all("resident_id" in e.message_dict for e in errors)
