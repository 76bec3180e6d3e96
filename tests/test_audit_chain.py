"""The audit trail is append-only and hash-chained: an edited, a deleted middle and a deleted newest row
are each found by ``verify_audit_chain``; concurrent appends on PostgreSQL never fork the chain."""

import datetime
import os
import subprocess
import sys
import time
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone, translation

from consortium.audit_verify import verify
from consortium.models import AppendOnlyError, AuditChainHead, AuditEvent
from consortium.permissions import SYSTEM
from consortium.services import record_audit_event
from records.access import log_patient_access, log_patient_list
from records.audit import RecordsAudit
from records.models import AccessLog, AccessReason
from tests.factories import PatientFactory
from tests.live import BASE_DIR, database_url_for_current_connection


@pytest.fixture
def trail(chain):
    """A few audit events and access-log entries, interleaved, as a day of work writes them."""
    patients = [PatientFactory(home_institution=chain["township"]) for _ in range(3)]
    user = chain["staff"]["clinician"].user
    for patient in patients:
        record_audit_event(actor=user, action=RecordsAudit.PATIENT_UPDATED, obj=patient, detail={"fields": ("name", "phone")})
        log_patient_access(user, patient, f"/patients/{patient.pk}/", AccessReason.OWN_INSTITUTION)
    log_patient_list(user, patients, "/patients/")
    return patients


def chain_numbers() -> list[int]:
    audit = AuditEvent.objects.values_list("chain_seq", flat=True)
    return sorted([*audit, *AccessLog.objects.values_list("chain_seq", flat=True)])


def run_verify() -> str:
    out = StringIO()
    with translation.override("en"):
        call_command("verify_audit_chain", stdout=out)
    return out.getvalue()


def broken() -> str:
    out = StringIO()
    with translation.override("en"), pytest.raises(CommandError, match="broken"):
        call_command("verify_audit_chain", stdout=out)
    return out.getvalue()


def sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_every_row_is_sealed_into_one_chain_and_it_verifies(trail):
    rows = AuditEvent.objects.count() + AccessLog.objects.count()
    head = AuditChainHead.objects.get()
    assert head.count == rows == 3 + 3 + 3
    seqs = sorted(
        [*AuditEvent.objects.values_list("chain_seq", flat=True), *AccessLog.objects.values_list("chain_seq", flat=True)]
    )
    assert seqs == list(range(1, rows + 1))
    assert "chain intact" in run_verify()


def test_an_edited_row_is_found(trail):
    entry = AccessLog.objects.order_by("chain_seq")[2]
    sql("UPDATE records_accesslog SET reason = %s WHERE id = %s", [AccessReason.CONSENT, entry.pk])
    out = broken()
    assert f"records.accesslog#{entry.pk}" in out and "changed after it was written" in out


def test_an_edited_audit_detail_is_found(trail):
    event = AuditEvent.objects.order_by("chain_seq").first()
    sql("UPDATE consortium_auditevent SET detail = %s WHERE id = %s", ['{"fields": ["name"]}', event.pk])
    assert f"consortium.auditevent#{event.pk}" in broken()


def test_a_row_deleted_in_the_middle_is_found(trail):
    event = AuditEvent.objects.order_by("chain_seq")[1]
    sql("DELETE FROM consortium_auditevent WHERE id = %s", [event.pk])
    out = broken()
    assert f"no. {event.chain_seq}–{event.chain_seq}" in out and "deleted" in out


def test_the_newest_row_deleted_is_found(trail):
    newest = max(
        AccessLog.objects.order_by("-chain_seq")[:1].get().chain_seq, AuditEvent.objects.order_by("-chain_seq")[0].chain_seq
    )
    sql("DELETE FROM records_accesslog WHERE chain_seq = %s", [newest])
    sql("DELETE FROM consortium_auditevent WHERE chain_seq = %s", [newest])
    out = broken()
    assert "the newest rows were deleted" in out


def test_a_head_rewound_to_hide_a_deleted_tail_is_found(trail):
    newest = AccessLog.objects.order_by("-chain_seq").first()
    assert newest.chain_seq == AuditChainHead.objects.get().count
    sql("DELETE FROM records_accesslog WHERE id = %s", [newest.pk])
    # Whoever deleted it knows what the head should now say, but not the key that seals it.
    sql("UPDATE consortium_auditchainhead SET count = count - 1, last_hash = %s", [newest.prev_hash])
    assert "the chain head was changed" in broken()


def test_a_deleted_head_is_found(trail):
    sql("DELETE FROM consortium_auditchainhead")
    assert "no chain head" in broken()


def test_rows_sealed_under_another_key_do_not_verify(trail, settings):
    settings.AUDIT_CHAIN_KEY = "someone-else's-key"
    reports = verify()
    assert reports and all(not report.ok for report in reports)


def test_the_chain_key_is_its_own():
    assert settings.AUDIT_CHAIN_KEY and settings.AUDIT_CHAIN_KEY not in (settings.SECRET_KEY, settings.IDENTIFIER_HASH_KEY)


def test_the_trail_is_never_updated_or_deleted_through_the_orm(trail):
    entry = AccessLog.objects.first()
    entry.reason = AccessReason.CONSENT
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        AccessLog.objects.filter(pk=entry.pk).update(reason=AccessReason.CONSENT)
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert "chain intact" in run_verify()


def test_each_month_has_its_own_head_and_an_archived_month_keeps_it(chain):
    patient = PatientFactory(home_institution=chain["township"])
    october = timezone.make_aware(datetime.datetime(2026, 10, 15, 9, 0))
    AuditEvent.objects.create(
        action=RecordsAudit.PATIENT_UPDATED, object_type="records.patient", object_id="1", occurred_at=october
    )
    AuditEvent.objects.create(
        action=RecordsAudit.PATIENT_UPDATED, object_type="records.patient", object_id="2", occurred_at=october
    )
    record_audit_event(actor=SYSTEM, action=RecordsAudit.PATIENT_UPDATED, obj=patient)
    heads = {head.period: head.count for head in AuditChainHead.objects.all()}
    assert heads["2026-10"] == 2 and heads[timezone.now().strftime("%Y-%m")] >= 1
    assert "chain intact" in run_verify()
    # Archiving October: its rows go (exported elsewhere, a partition dropped), its head stays, marked.
    sql("DELETE FROM consortium_auditevent WHERE chain_period = '2026-10'")
    assert "newest rows were deleted" in broken()
    AuditChainHead.objects.filter(period="2026-10").update(archived_at=timezone.now())
    out = run_verify()
    assert "2026-10: archived, 2 rows" in out


def test_rows_written_before_the_chain_are_sealed_by_its_migration(chain):
    from django.apps import apps as live_apps

    from consortium.audit_chain import seal_existing_rows

    record_audit_event(actor=SYSTEM, action=RecordsAudit.PATIENT_UPDATED, obj=chain["township"])
    sql("UPDATE consortium_auditevent SET chain_period = '', chain_seq = 0, prev_hash = '', row_hash = ''")
    sql("DELETE FROM consortium_auditchainhead")
    assert "carry no seal" in broken()
    assert seal_existing_rows(live_apps, "consortium", "AuditEvent", AuditEvent.CHAIN_FIELDS) == 1
    assert "chain intact" in run_verify()


APPENDER = """
import os, sys, time
import django
django.setup()
from consortium.models import AuditEvent
from consortium.audit import AuditAction
from records.audit import RecordsAudit
from records.models import AccessLog
from django.db import transaction
start, n, worker = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
while time.time() < start:
    time.sleep(0.005)
for i in range(n):
    with transaction.atomic():
        AuditEvent.objects.create(action=RecordsAudit.PATIENT_UPDATED, object_type="test", object_id=f"{worker}-{i}")
        if i % 3 == 0:
            AccessLog.objects.bulk_create(
                [AccessLog(patient_id=int(sys.argv[4]), path=f"/w/{worker}/{i}/{k}", reason="own_institution") for k in range(2)]
            )
print("done", worker)
"""


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL (SQLite serialises every writer)"
)
def test_concurrent_processes_append_without_forking_the_chain(chain):
    patient = PatientFactory(home_institution=chain["township"])
    before = AuditChainHead.objects.get().count if AuditChainHead.objects.exists() else 0
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_current_connection(),
        "AUDIT_CHAIN_KEY": settings.AUDIT_CHAIN_KEY,
        "SECRET_KEY": settings.SECRET_KEY,
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    processes, per_process, start = 4, 30, time.time() + 4
    children = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, str(start), str(per_process), str(worker), str(patient.pk)],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(processes)
    ]
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
    per_worker = per_process + 2 * len(range(0, per_process, 3))
    head = AuditChainHead.objects.get(period=timezone.now().astimezone(datetime.UTC).strftime("%Y-%m"))
    assert head.count == before + processes * per_worker
    seqs = sorted(
        [*AuditEvent.objects.values_list("chain_seq", flat=True), *AccessLog.objects.values_list("chain_seq", flat=True)]
    )
    assert seqs == list(range(1, head.count + 1))
    assert "chain intact" in run_verify()


def test_a_month_is_exported_in_chain_order_with_its_seals_and_head(trail):
    import json

    month = AuditChainHead.objects.get().period
    out = StringIO()
    call_command("export_audit_trail", month, stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    head = lines.pop()
    assert head["count"] == len(lines) == 9 and head["last_hash"] == lines[-1]["row_hash"]
    assert [line["seq"] for line in lines] == list(range(1, 10))
    assert all(line["prev_hash"] == before["row_hash"] for before, line in zip(lines, lines[1:], strict=False))
    assert {line["table"] for line in lines} == {"consortium.auditevent", "records.accesslog"}
