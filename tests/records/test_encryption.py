"""Identifiers at rest: encrypted column by column, found through key-id'd hashes, rotated without downtime.

The raw-SQL assertions read the columns as the database holds them, past the ORM's decryption.
"""

import base64
import hashlib
import hmac
import io

import pytest
from django.core.exceptions import FieldError
from django.core.management import CommandError, call_command
from django.db import connection

from consortium import crypto
from consortium.permissions import SYSTEM
from records import services
from records.models import Patient, identifier_hash
from records.resident_id import parse
from records.selectors import search_patients
from tests.factories import PatientFactory, make_resident_id

pytestmark = pytest.mark.django_db

PHONE = "13912345678"
ADDRESS = "湖北省襄阳市南漳县鸣凤镇凤阳村三组"


def raw_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, resident_id, phone, address, resident_id_hash, phone_hash FROM records_patient ORDER BY id")
        return cursor.fetchall()


def assert_nothing_in_clear(clear_values):
    dump = repr(raw_rows())
    for value in clear_values:
        assert value not in dump


def register(chain, resident_id=None, phone=PHONE, name="王芳"):
    number = resident_id or make_resident_id(sex="F")
    patient, _created = services.register_patient(
        actor=chain["staff"]["clerk"].user,
        institution=chain["township"],
        data={"name": name, "sex": "F", "resident_id": number, "phone": phone, "address": ADDRESS},
    )
    return patient


def test_resident_id_phone_and_address_are_stored_as_envelopes_never_in_clear(chain):
    patient = register(chain)
    assert_nothing_in_clear([patient.resident_id, PHONE, ADDRESS, "凤阳村"])
    _pk, resident_id, phone, address, resident_hash, phone_hash = raw_rows()[0]
    for envelope in (resident_id, phone, address):
        assert envelope.startswith("v1:dev:")
    assert resident_hash.startswith("dev:") and phone_hash.startswith("dev:")
    again = Patient.objects.get(pk=patient.pk)
    assert (again.resident_id, again.phone, again.address) == (patient.resident_id, PHONE, ADDRESS)


def test_two_equal_values_give_different_envelopes_and_empty_stays_empty(chain):
    PatientFactory(home_institution=chain["township"], phone=PHONE, address=ADDRESS)
    PatientFactory(home_institution=chain["township"], phone=PHONE, address="")
    (_, _, first, _, _, _), (_, _, second, empty_address, _, _) = raw_rows()
    assert first != second  # a fresh nonce per value: equal numbers are not visible as equal
    assert empty_address == ""
    assert Patient.objects.filter(address="").count() == 1


def test_batch_and_bulk_paths_encrypt_too(chain):
    from records.services import BatchPatient

    number = make_resident_id()
    batch_patient = BatchPatient(
        resident_id=number,
        resident_id_hash=identifier_hash("resident_id", number),
        name="赵六",
        sex="M",
        birth_date=parse(number).birth_date,
        phone=PHONE,
        address=ADDRESS,
    )
    result = services.match_batch_patients(actor=SYSTEM, institution=chain["township"], patients=[(1, batch_patient)], source="x")
    assert result.created == 1 and not result.errors
    assert_nothing_in_clear([number, PHONE, ADDRESS])
    assert Patient.objects.get().resident_id == number


def test_an_encrypted_column_refuses_comparisons_sql_cannot_answer(chain):
    PatientFactory(home_institution=chain["township"])
    with pytest.raises(FieldError, match="lookup hash"):
        list(Patient.objects.filter(phone=PHONE))
    with pytest.raises(FieldError):
        list(Patient.objects.filter(resident_id__endswith="1234"))


def test_an_envelope_moved_to_another_column_does_not_decrypt(chain):
    PatientFactory(home_institution=chain["township"], phone=PHONE, address=ADDRESS)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE records_patient SET address = phone")
    with pytest.raises(crypto.DecryptionError):
        Patient.objects.get()


def test_lookups_by_id_phone_and_last_digits_still_find_the_patient(chain):
    patient = register(chain)
    clinician = chain["staff"]["clinician"].user
    assert list(search_patients(clinician, patient.resident_id)) == [patient]
    assert list(search_patients(clinician, PHONE)) == [patient]
    assert list(search_patients(clinician, f"王芳 {patient.resident_id[-4:]}")) == [patient]
    assert list(search_patients(clinician, "王芳 5678")) == [patient]  # the phone's last digits
    assert list(search_patients(clinician, "王芳 0000")) == []
    with pytest.raises(Exception) as duplicate:
        register(chain, resident_id=patient.resident_id)
    assert "resident_id" in str(duplicate.value)


# --- rotation --------------------------------------------------------------------------------

NEW_AES = base64.b64encode(bytes(range(32))).decode()
NEW_HASH = "rotated-hash-key-for-tests-0123456789abcdef"


@pytest.mark.parametrize("secret", ["short", NEW_HASH, "k" * 100])
def test_lookup_hashes_stay_hmac_sha256_of_kind_and_value(settings, secret):
    """The stored hashes are HMAC-SHA256 of ``kind:value``: however it is computed, a stored row stays findable."""
    settings.IDENTIFIER_HASH_KEYS = {**settings.IDENTIFIER_HASH_KEYS, "kat": secret}
    for kind, value in [("resident_id", "42052519620814001X"), ("phone", "13912345678"), ("resident_id", "")]:
        expected = hmac.new(secret.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
        assert crypto.lookup_hash(kind, value, key_id="kat") == f"kat:{expected}"
        assert crypto.lookup_hash(kind, value, key_id="kat") == f"kat:{expected}"  # the keyed state is reused unchanged


def rotate_to_k2(settings):
    settings.FIELD_ENCRYPTION_KEYS = {**settings.FIELD_ENCRYPTION_KEYS, "k2": NEW_AES}
    settings.FIELD_ENCRYPTION_KEY_ID = "k2"
    settings.IDENTIFIER_HASH_KEYS = {**settings.IDENTIFIER_HASH_KEYS, "k2": NEW_HASH}
    settings.IDENTIFIER_HASH_KEY_ID = "k2"


def key_ids() -> set[str]:
    found = set()
    for _pk, *envelopes, resident_hash, phone_hash in raw_rows():
        found |= {crypto.key_id_of(v) for v in envelopes if v}
        found |= {crypto.hash_key_id_of(v) for v in (resident_hash, phone_hash) if v}
    return found


def test_a_batch_mid_rotation_lands_on_patients_still_hashed_under_the_old_key(chain, settings):
    """The batch row carries its hash under the new writing key; the older key's hash is asked for too."""
    old = register(chain)
    rotate_to_k2(settings)
    row = services.BatchPatient(
        resident_id=old.resident_id, resident_id_hash=identifier_hash("resident_id", old.resident_id), name="王芳"
    )
    found = services.match_batch_patients(actor=SYSTEM, institution=chain["township"], patients=[(0, row)], source="test")
    assert (found.patient_ids, found.errors, found.created) == ({0: old.pk}, [], 0)


def test_rotation_reencrypts_and_rehashes_in_batches_while_reads_and_writes_go_on(chain, settings):
    old = [register(chain, name=f"王芳{i}", phone=f"1391234{i:04d}") for i in range(5)]
    clinician = chain["staff"]["clinician"].user
    rotate_to_k2(settings)

    # Between the new writing key and the end of the rotation, old rows are read and found, new ones
    # are written under k2, and a resident ID registered under the old hash key is still unique.
    assert list(search_patients(clinician, old[0].resident_id)) == [old[0]]
    newcomer = register(chain, name="李雷", phone="13700000000")
    assert raw_rows()[-1][1].startswith("v1:k2:") and raw_rows()[-1][4].startswith("k2:")
    with pytest.raises(Exception, match="resident_id"):
        register(chain, resident_id=old[1].resident_id)

    seen_mid_rotation = []

    def during(report, last):
        # A clerk searching between two batches finds rotated and not-yet-rotated patients alike.
        seen_mid_rotation.append([p.pk for p in old if list(search_patients(clinician, p.resident_id)) == [p]])

    from records.key_rotation import rotate_identifier_keys

    report = rotate_identifier_keys(batch_size=2, progress=during)
    assert report.batches == 3 and report.patients_rewritten == 5 and report.patients_current == 1
    assert all(len(found) == 5 for found in seen_mid_rotation)
    assert key_ids() == {"k2"}

    # The old keys can go now: everything still reads, is found and stays unique.
    settings.FIELD_ENCRYPTION_KEYS = {"k2": NEW_AES}
    settings.IDENTIFIER_HASH_KEYS = {"k2": NEW_HASH}
    assert [p.phone for p in Patient.objects.order_by("pk")] == [p.phone for p in [*old, newcomer]]
    assert list(search_patients(clinician, old[3].resident_id)) == [old[3]]
    assert list(search_patients(clinician, f"王芳3 {old[3].phone[-4:]}")) == [old[3]]
    with pytest.raises(Exception, match="resident_id"):
        register(chain, resident_id=old[4].resident_id)
    assert rotate_identifier_keys(batch_size=2).patients_rewritten == 0  # running it again changes nothing


def test_the_command_reports_keys_and_check_fails_until_rotated(chain, settings):
    register(chain)
    rotate_to_k2(settings)
    out = io.StringIO()
    with pytest.raises(CommandError, match="not under the writing keys"):
        call_command("rotate_identifier_keys", "--check", stdout=out)
    assert "dev=3" in out.getvalue()  # resident ID, phone, address under the old key
    out = io.StringIO()
    call_command("rotate_identifier_keys", "--batch-size", "1", stdout=out)
    assert "1 patients rewritten" in out.getvalue() and "encrypted values by key: k2=3" in out.getvalue()
    call_command("rotate_identifier_keys", "--check", stdout=io.StringIO())
    with pytest.raises(CommandError, match="batch-size"):
        call_command("rotate_identifier_keys", "--batch-size", "0", stdout=io.StringIO())


# --- the data migration ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_clear_values_already_stored_and_back():
    from django.db.migrations.executor import MigrationExecutor

    before = [("records", "0010_catalogues")]
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    old = MigrationExecutor(connection).loader.project_state(before).apps
    clinic = old.get_model("consortium", "Institution").objects.create(
        code="MIG009", name="迁移测试卫生院", level="township_health_centre", region_code="420525"
    )
    number = make_resident_id()
    old.get_model("records", "Patient").objects.create(
        home_institution=clinic, name="钱七", sex="M", birth_date=parse(number).birth_date,
        resident_id=number, resident_id_hash="0" * 64, phone=PHONE, address=ADDRESS,
    )  # fmt: skip
    assert number in repr(raw_rows())  # in clear before

    MigrationExecutor(connection).migrate(latest)
    assert_nothing_in_clear([number, PHONE, ADDRESS])
    patient = Patient.objects.get()
    assert (patient.resident_id, patient.phone, patient.address) == (number, PHONE, ADDRESS)
    assert patient.resident_id_hash == identifier_hash("resident_id", number)  # re-hashed with its key id
    assert Patient.objects.filter(phone_hash=identifier_hash("phone", PHONE)).get() == patient

    MigrationExecutor(connection).migrate(before)
    assert number in repr(raw_rows()) and PHONE in repr(raw_rows())  # reversible
    MigrationExecutor(connection).migrate(latest)
    assert Patient.objects.get().resident_id == number
