"""The benchmarks seed patients as the application stores them: identifiers encrypted, lookup hashes beside."""

import datetime

import pytest
from django.db import connection

from bench.common import copy_patients
from bench.ingest.run import known_patient, resident_id
from consortium import crypto
from records.matching import Outcome, match_patient
from records.models import Patient
from tests.factories import InstitutionFactory

pytestmark = pytest.mark.django_db


def test_copied_patients_are_encrypted_and_found_by_resident_id_and_phone():
    home = InstitutionFactory()
    now = datetime.datetime.now(datetime.UTC)
    rows = [{**known_patient(i, home.pk, now, "420526"), "phone": f"1390000{i:04d}", "address": f"河口村{i}号"} for i in range(3)]
    assert copy_patients(rows, chunk=2) == 3

    with connection.cursor() as cursor:
        cursor.execute("SELECT resident_id, phone, address FROM records_patient ORDER BY id")
        stored = cursor.fetchall()
    assert all(crypto.is_envelope(value) for row in stored for value in row)
    assert resident_id(1, "420526") not in str(stored)

    found = match_patient(resident_id=resident_id(1, "420526"))
    assert found.outcome == Outcome.EXACT and found.patient.phone == "13900000001"
    assert Patient.objects.get(pk=found.patient.pk).address == "河口村1号"
    assert Patient.objects.filter(phone_hash=crypto.lookup_hash("phone", "13900000002")).count() == 1
