"""Month partitions of the append-only tables and their retention (``consortium.partitions``), with a frozen
clock: partitions made ahead, each insert in its month's partition, a default partition that never refuses
a row, months past retention detached, archived to storage as gzip CSV (filesystem and S3), checked and
dropped, the audit chain still verifying after a month leaves, and the migration moving existing rows.
SQLite keeps the tables plain: retention archives the rows the same way and deletes them."""

import csv
import datetime
import gzip
import io
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import translation

from consortium import partitions, storage
from consortium.models import AuditChainHead, AuditEvent, OutboxEvent
from records.models import AccessLog, AccessReason, ListAccessLog
from referrals.models import Notification
from sync.models import Delivery, DeliveryStatus, Endpoint
from tests.clock import frozen_at
from tests.factories import PatientFactory, UserFactory

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="declarative partitioning is PostgreSQL's")
on_sqlite = pytest.mark.skipif(connection.vendor == "postgresql", reason="the plain-table path of SQLite")

TABLES = (
    "records_accesslog",
    "records_listaccesslog",
    "consortium_auditevent",
    "consortium_outboxevent",
    "consortium_delivery",
    "referrals_notification",
)
SHORT = {"access_log": 6, "list_access_log": 6, "audit_event": 6, "outbox": 2, "delivery": 2, "notification": 3}


def at(year, month, day=10, hour=9) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, tzinfo=datetime.UTC)


def home_of(table: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def partitions_of(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass", [table]
        )
        return {name for (name,) in cursor.fetchall()}


def table_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def write_month(chain, moment: datetime.datetime, *, dispatched=True, delivered=True) -> dict:
    """One row of each partitioned table in ``moment``'s month."""
    patient = PatientFactory(home_institution=chain["township"])
    audit = AuditEvent.objects.create(action="test.updated", object_type="records.patient", object_id="1", occurred_at=moment)
    access = AccessLog.objects.create(patient=patient, path="/p/", reason=AccessReason.OWN_INSTITUTION, occurred_at=moment)
    listed = ListAccessLog.objects.create(occurred_at=moment, path="/referrals/", purpose="TREAT", patient_ids=[patient.pk])
    event = OutboxEvent.objects.create(
        event_type="encounter",
        aggregate_type="records.encounter",
        aggregate_id="1",
        created_at=moment,
        dispatched_at=moment if dispatched else None,
    )
    endpoint = Endpoint.objects.create(
        institution=chain["city"], name=f"HIS {moment:%Y%m}", url=f"https://his.example.org/fhir/{moment:%Y%m%d%H}"
    )
    delivery = Delivery.objects.create(
        event=event,
        endpoint=endpoint,
        lane="p1",
        status=DeliveryStatus.DELIVERED if delivered else DeliveryStatus.PENDING,
        created_at=moment,
    )
    notice = Notification.objects.create(recipient=UserFactory(), text="a referral arrived", created_at=moment)
    return {
        "records_accesslog": access.pk,
        "records_listaccesslog": listed.pk,
        "consortium_auditevent": audit.pk,
        "consortium_outboxevent": event.pk,
        "consortium_delivery": delivery.pk,
        "referrals_notification": notice.pk,
    }


def from_2040(settings, *, ahead: int) -> None:
    """Short retentions, and the month partitions of January 2040 and ``ahead`` months after it."""
    settings.PARTITION_RETENTION_MONTHS = SHORT
    with frozen_at("2040-01-05T12:00Z"):
        partitions.ensure_partitions(months_ahead=ahead)


def run_verify() -> str:
    out = StringIO()
    with translation.override("en"):
        call_command("verify_audit_chain", stdout=out)
    return out.getvalue()


def stored_rows(name: str) -> list[dict]:
    with storage.open_stream(name) as raw:
        text = gzip.decompress(raw.read()).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_the_tables_and_their_settings():
    keys = [spec.key for spec in partitions.partitioned_tables()]
    assert sorted(keys) == ["access_log", "audit_event", "delivery", "list_access_log", "notification", "outbox"]
    assert keys.index("delivery") < keys.index("outbox")  # deliveries are archived before their events
    months = partitions.retention_months()
    assert months["access_log"] == months["list_access_log"] == months["audit_event"] >= 6


def test_the_chain_shares_one_retention_and_the_outbox_outlives_its_deliveries(settings):
    settings.PARTITION_RETENTION_MONTHS = {
        "access_log": 12,
        "list_access_log": 6,
        "audit_event": 84,
        "outbox": 3,
        "delivery": 9,
        "notification": None,
    }
    months = partitions.retention_months()
    assert months == {
        "access_log": 84,
        "list_access_log": 84,
        "audit_event": 84,
        "outbox": 9,
        "delivery": 9,
        "notification": None,
    }


@pytest.mark.parametrize(
    "value",
    [
        '{"access_log": 3}',
        '{"list_access_log": 5}',
        '{"outbox": 0}',
        '{"outbox": "six"}',
        '{"nope": 6}',
        "[6]",
        "not json",
        '{"outbox": true}',
    ],
)
def test_bad_retention_settings_are_refused(value, monkeypatch):
    import importlib

    from django.core.exceptions import ImproperlyConfigured

    import config.settings as module

    monkeypatch.setenv("PARTITION_RETENTION_MONTHS", value)
    with pytest.raises(ImproperlyConfigured):
        module._retention_months()
    monkeypatch.delenv("PARTITION_RETENTION_MONTHS")
    importlib.reload(module)


def test_the_command_refuses_bad_input(db):
    with pytest.raises(CommandError):
        call_command("partitions")
    with pytest.raises(CommandError):
        call_command("partitions", "--list", "--table", "nope")
    with pytest.raises(CommandError):
        call_command("partitions", "--archive-older-than", "0")


# -- PostgreSQL ---------------------------------------------------------------------------------------


@on_postgresql
def test_every_table_is_partitioned_with_a_default_and_a_composite_key(db):
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", [table])
            assert cursor.fetchone()[0] == "p", table
            assert f"{table}_pdefault" in partitions_of(table)
        cursor.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'consortium_delivery_event_fk'")
        assert cursor.fetchone()[0].startswith(
            "FOREIGN KEY (event_id, event_created_at) REFERENCES consortium_outboxevent(id, created_at)"
        )


@on_postgresql
def test_partitions_are_created_ahead_and_again_is_a_no_op(db):
    with frozen_at("2040-05-15T12:00+08:00"):
        report = partitions.ensure_partitions(months_ahead=2)
        for table in TABLES:
            assert {f"{table}_p204005", f"{table}_p204006", f"{table}_p204007"} <= partitions_of(table)
            assert f"{table}_p204008" not in partitions_of(table)
        assert len(report.created) == 3 * len(TABLES)
        assert partitions.ensure_partitions(months_ahead=2).created == []
    listed = {(info.key, info.month) for info in partitions.list_partitions()}
    assert ("access_log", "2040-06") in listed and ("outbox", "default") in listed


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_ensures_at_once_create_each_partition_once():
    """Two beat runs (or a run and an operator) at once: they queue on the advisory lock, nothing fails."""
    import threading

    from django.db import connections

    reports, errors = [], []
    barrier = threading.Barrier(2)

    def run():
        try:
            barrier.wait()
            reports.append(partitions.ensure_partitions(months_ahead=2))
        except Exception as exc:  # noqa: BLE001  (the assertion below names it)
            errors.append(exc)
        finally:
            connections.close_all()

    with frozen_at("2045-03-15T12:00Z"):
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    try:
        assert errors == []
        created = [name for report in reports for name in report.created]
        assert sorted(created) == sorted(f"{table}_p2045{month:02d}" for table in TABLES for month in (3, 4, 5))
    finally:
        with connection.cursor() as cursor:
            for table in TABLES:
                for month in (3, 4, 5):
                    if f"{table}_p2045{month:02d}" in partitions_of(table):
                        cursor.execute(f"ALTER TABLE {table} DETACH PARTITION {table}_p2045{month:02d}")
                        cursor.execute(f"DROP TABLE {table}_p2045{month:02d}")


@on_postgresql
def test_each_insert_lands_in_its_month_and_an_unready_month_in_the_default(chain):
    with frozen_at("2040-05-15T12:00+08:00"):
        partitions.ensure_partitions(months_ahead=1)
    may = write_month(chain, at(2040, 5))
    for table, pk in may.items():
        assert home_of(table, pk) == f"{table}_p204005"
    later = write_month(chain, at(2040, 9))  # no partition for September yet: nothing refused
    for table, pk in later.items():
        assert home_of(table, pk) == f"{table}_pdefault"
    with frozen_at("2040-08-20T12:00Z"):
        report = partitions.ensure_partitions(months_ahead=1)
    assert report.moved == len(TABLES)
    for table, pk in later.items():
        assert home_of(table, pk) == f"{table}_p204009"
    # The chain's place stays unique within its month's partition.
    assert "2040-09: 3 rows, chain intact" in run_verify()


@on_postgresql
@pytest.mark.usefixtures("file_storage")
def test_retention_detaches_archives_checks_and_drops_old_months(chain, settings):
    from_2040(settings, ahead=8)
    january, march = write_month(chain, at(2040, 1)), write_month(chain, at(2040, 3, 31, 23))
    with frozen_at("2040-07-03T02:00+08:00"):  # 2 July UTC: outbox and deliveries keep May, June
        report = partitions.apply_retention()
    archived = {(month.key, month.month): month for month in report.archived}
    for key in ("outbox", "delivery"):
        assert (key, "2040-01") in archived and (key, "2040-03") in archived and (key, "2040-04") in archived
        assert (key, "2040-05") not in archived
    assert ("notification", "2040-03") in archived and ("notification", "2040-04") not in archived
    assert ("access_log", "2040-01") not in archived and ("audit_event", "2040-01") not in archived  # 6 months: Jan stays
    for table, key in (("consortium_outboxevent", "outbox"), ("consortium_delivery", "delivery")):
        assert not table_exists(f"{table}_p204003") and f"{table}_p204005" in partitions_of(table)
        month = archived[(key, "2040-03")]
        assert month.rows == 1 and month.archive.startswith(f"archive/{key}/2040-03")
        rows = stored_rows(month.archive)
        assert [int(row["id"]) for row in rows] == [march[table]]
    rows = stored_rows(archived[("delivery", "2040-01")].archive)
    assert rows[0]["status"] == "delivered" and rows[0]["lane"] == "p1"
    assert not Delivery.objects.filter(pk=january["consortium_delivery"]).exists()
    assert OutboxEvent.objects.filter(pk=january["consortium_outboxevent"]).count() == 0


@on_postgresql
@pytest.mark.usefixtures("file_storage")
def test_an_archived_audit_month_keeps_its_head_and_the_rest_still_verifies(chain, settings):
    from_2040(settings, ahead=8)
    january, march = write_month(chain, at(2040, 1)), write_month(chain, at(2040, 3))
    with frozen_at("2040-08-01T00:30Z"):  # cutoff 1 February: January goes, March stays
        report = partitions.apply_retention(keys=["access_log", "audit_event"])
    archived = {(month.key, month.month): month for month in report.archived}
    assert {("access_log", "2040-01"), ("list_access_log", "2040-01"), ("audit_event", "2040-01")} <= set(archived)
    for table in ("records_accesslog", "records_listaccesslog", "consortium_auditevent"):
        assert not table_exists(f"{table}_p204001") and table_exists(f"{table}_p204003")
    listed = stored_rows(archived[("list_access_log", "2040-01")].archive)
    assert [int(row["id"]) for row in listed] == [january["records_listaccesslog"]] and listed[0]["row_hash"]
    head = AuditChainHead.objects.get(period="2040-01")
    assert head.archived_at is not None and head.count == 3
    audit_rows = stored_rows(next(m.archive for m in report.archived if m.key == "audit_event" and m.month == "2040-01"))
    assert [int(row["id"]) for row in audit_rows] == [january["consortium_auditevent"]]
    assert audit_rows[0]["row_hash"] and audit_rows[0]["chain_seq"] == "1"
    out = run_verify()
    assert "2040-01: archived, 3 rows" in out and "2040-03: 3 rows, chain intact" in out
    with connection.cursor() as cursor:
        cursor.execute("UPDATE records_accesslog SET path = '/tampered/' WHERE id = %s", [march["records_accesslog"]])
    with translation.override("en"), pytest.raises(CommandError, match="broken"):
        call_command("verify_audit_chain", stdout=StringIO())


@on_postgresql
@pytest.mark.usefixtures("file_storage")
def test_unfinished_rows_and_a_broken_chain_hold_their_month_back(chain, settings):
    from_2040(settings, ahead=2)
    january = write_month(chain, at(2040, 1), dispatched=False, delivered=False)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE consortium_auditevent SET object_id = '2' WHERE id = %s", [january["consortium_auditevent"]])
    with frozen_at("2040-09-01T00:30Z"):
        report = partitions.apply_retention()
    held = " | ".join(report.held)
    assert "outbox 2040-01: 1" in held and "delivery 2040-01: 1" in held and "audit chain 2040-01" in held
    for table in TABLES[:5]:  # all but the notifications, which nothing holds back
        assert f"{table}_p204001" in partitions_of(table)
    assert AuditChainHead.objects.get(period="2040-01").archived_at is None
    assert ("notification", "2040-01") in {(month.key, month.month) for month in report.archived}


@on_postgresql
@pytest.mark.usefixtures("file_storage")
def test_a_run_stopped_after_its_detach_is_finished_by_the_next(chain, settings):
    from_2040(settings, ahead=2)
    january = write_month(chain, at(2040, 1))
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE referrals_notification DETACH PARTITION referrals_notification_p204001")
    assert ("notification", "2040-01") in {(info.key, info.month) for info in partitions.list_partitions() if not info.attached}
    with frozen_at("2040-09-01T00:30Z"):
        report = partitions.apply_retention(keys=["notification"])
    month = next(m for m in report.archived if m.key == "notification" and m.month == "2040-01")
    assert [int(row["id"]) for row in stored_rows(month.archive)] == [january["referrals_notification"]]
    assert not table_exists("referrals_notification_p204001")


@on_postgresql
def test_the_command_lists_ensures_and_archives(chain, settings, file_storage):
    settings.PARTITION_RETENTION_MONTHS = SHORT
    out = StringIO()
    with frozen_at("2040-01-05T12:00Z"):
        call_command("partitions", "--ensure", "--ahead", "1", "--list", stdout=out)
    assert "records_accesslog_p204002" in out.getvalue()
    write_month(chain, at(2040, 1))
    out = StringIO()
    with frozen_at("2040-09-01T00:30Z"), translation.override("en"):
        call_command("partitions", "--archive", "--table", "notification", stdout=out)
    assert "notification 2040-01: 1 rows archived to archive/notification/2040-01" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_existing_rows_into_month_partitions():
    """From the plain tables of before, with rows in them, to the partitioned ones: every row kept, each in
    its month's partition, the id sequences going on where they were (on SQLite: the rows kept)."""
    from django.db.migrations.executor import MigrationExecutor

    from consortium.models import Institution

    institution = Institution.objects.create(
        code="PART01", name="分区测试卫生院", level="township_health_centre", region_code="420525"
    )
    patient = PatientFactory(home_institution=institution)
    before = [
        ("consortium", "0012_machine_access_sealed_secret"),
        ("records", "0013_break_glass_review_print_export"),
        ("sync", "0005_delivery_event_created_at"),
        ("referrals", "0005_slot_schedules_discharge_data"),
    ]
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    old = MigrationExecutor(connection).loader.project_state(before).apps
    october, november = at(2026, 10), at(2026, 11, 30, 23)
    audit = old.get_model("consortium", "AuditEvent").objects.create(
        action="test", object_type="t", object_id="1", occurred_at=october
    )
    access = old.get_model("records", "AccessLog").objects.create(
        patient_id=patient.pk, path="/p/", reason="own_institution", occurred_at=november
    )
    event = old.get_model("consortium", "OutboxEvent").objects.create(
        event_type="encounter", aggregate_type="records.encounter", aggregate_id="1", created_at=october
    )
    endpoint = old.get_model("sync", "Endpoint").objects.create(
        institution_id=institution.pk, name="HIS", url="https://his.example.org/"
    )
    delivery = old.get_model("sync", "Delivery").objects.create(
        event_id=event.pk, endpoint_id=endpoint.pk, lane="p1", event_created_at=october
    )
    user = UserFactory()
    notice = old.get_model("referrals", "Notification").objects.create(recipient_id=user.pk, text="hello", created_at=november)

    executor = MigrationExecutor(connection)
    executor.migrate(latest)
    assert AuditEvent.objects.get(pk=audit.pk).occurred_at == october
    assert AccessLog.objects.get(pk=access.pk).path == "/p/"
    assert Delivery.objects.get(pk=delivery.pk).event_id == event.pk
    assert Notification.objects.get(pk=notice.pk).text == "hello"
    later = OutboxEvent.objects.create(event_type="encounter", aggregate_type="records.encounter", aggregate_id="2")
    assert later.pk > event.pk
    if connection.vendor == "postgresql":
        homes = {
            ("consortium_auditevent", audit.pk): "consortium_auditevent_p202610",
            ("records_accesslog", access.pk): "records_accesslog_p202611",
            ("consortium_outboxevent", event.pk): "consortium_outboxevent_p202610",
            ("consortium_delivery", delivery.pk): "consortium_delivery_p202610",
            ("referrals_notification", notice.pk): "referrals_notification_p202611",
        }
        for (table, pk), home in homes.items():
            assert home_of(table, pk) == home


@pytest.mark.usefixtures("file_storage")
def test_a_chain_month_with_rows_in_a_table_outside_retention_is_held_back(chain, settings, monkeypatch):
    """A chained table that takes no part in retention (as the list access log did before it was
    partitioned) holds its month back: marking the head archived would end the check of its rows."""
    from_2040(settings, ahead=2)
    write_month(chain, at(2040, 1))
    monkeypatch.setattr(ListAccessLog, "PARTITION_BY", None)
    with frozen_at("2040-09-01T00:30Z"):
        report = partitions.apply_retention(keys=["access_log"])
    assert "audit chain 2040-01: rows in records.listaccesslog" in " | ".join(report.held)
    assert AuditChainHead.objects.get(period="2040-01").archived_at is None
    assert AccessLog.objects.filter(chain_period="2040-01").exists()


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_the_list_access_log_is_moved_into_month_partitions_with_its_rows():
    """From the plain list access log of records 0015, with rows in it, to the partitioned one."""
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate([("records", "0015_list_access_log")])
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = 'records_listaccesslog'::regclass")
        assert cursor.fetchone()[0] == "r"
    old = MigrationExecutor(connection).loader.project_state([("records", "0015_list_access_log")]).apps
    row = old.get_model("records", "ListAccessLog").objects.create(
        occurred_at=at(2026, 10), path="/referrals/", purpose="TREAT", patient_ids=[7, 8]
    )
    MigrationExecutor(connection).migrate(latest)
    assert home_of("records_listaccesslog", row.pk) == "records_listaccesslog_p202610"
    assert ListAccessLog.objects.get(pk=row.pk).patient_ids == [7, 8]
    later = ListAccessLog.objects.create(path="/referrals/", purpose="TREAT", patient_ids=[9])
    assert later.pk > row.pk


# -- SQLite -------------------------------------------------------------------------------------------


@on_sqlite
def test_sqlite_keeps_plain_tables_and_ensure_is_a_no_op(db):
    assert partitions.ensure_partitions().created == []
    assert partitions.list_partitions() == []
    assert not any(partitions.is_partitioned(spec) for spec in partitions.partitioned_tables())


@on_sqlite
@pytest.mark.usefixtures("file_storage")
def test_sqlite_retention_archives_the_rows_and_deletes_them(chain, settings):
    settings.PARTITION_RETENTION_MONTHS = SHORT
    january, march = write_month(chain, at(2040, 1)), write_month(chain, at(2040, 3))
    held = write_month(chain, at(2040, 2), dispatched=False, delivered=False)
    with frozen_at("2040-08-01T00:30Z"):
        report = partitions.apply_retention()
    archived = {(month.key, month.month): month for month in report.archived}
    assert ("audit_event", "2040-01") in archived and ("access_log", "2040-01") in archived
    assert ("list_access_log", "2040-01") in archived and not ListAccessLog.objects.filter(chain_period="2040-01").exists()
    assert ("audit_event", "2040-03") not in archived
    assert "outbox 2040-02: 1" in " | ".join(report.held)
    assert not AccessLog.objects.filter(pk=january["records_accesslog"]).exists()
    assert AccessLog.objects.filter(pk=march["records_accesslog"]).exists()
    assert OutboxEvent.objects.filter(pk=held["consortium_outboxevent"]).exists()
    rows = stored_rows(archived[("access_log", "2040-01")].archive)
    assert [int(row["id"]) for row in rows] == [january["records_accesslog"]] and rows[0]["path"] == "/p/"
    assert AuditChainHead.objects.get(period="2040-01").archived_at is not None
    out = run_verify()
    assert "2040-01: archived, 3 rows" in out and "2040-03: 3 rows, chain intact" in out
