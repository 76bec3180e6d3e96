"""Month partitions of the append-only tables, and their retention (``docs/AUDIT.md``, README "Deploying").

On PostgreSQL the access log, the audit events, the outbox, the deliveries and the notifications are
partitioned by month (declarative ``PARTITION BY RANGE`` on each row's own timestamp, UTC months, so an
audit partition is exactly one month of the audit chain).  Each table has a ``DEFAULT`` partition, so an
insert never fails for want of a month; ``ensure_partitions`` (beat, daily) creates the next months ahead
and moves any rows that landed in the default partition into their own month.  ``apply_retention``
(beat, daily) takes each month older than the table's retention (``PARTITION_RETENTION_MONTHS``):
DETACH PARTITION, COPY it out as gzip CSV to the file storage (``archive/<table>/<YYYY-MM>.csv.gz``, S3
when configured), read the archive back and compare its row count and id sum with the table, then DROP
the detached table.  For the audit chain's tables the month is verified first and its
:class:`~consortium.models.AuditChainHead` is kept, marked ``archived_at``.

On SQLite the tables stay plain: retention archives a month's rows the same way and deletes them.

A model takes part by naming its partition column and its retention setting::

    PARTITION_BY = "occurred_at"
    PARTITION_KEY = "access_log"   # settings key and archive folder

``PARTITION_FOLLOWS`` names the table whose rows a table's rows reference (deliveries follow the outbox):
its months are archived first, and the referenced table is kept at least as long.  ``PARTITION_HOLD`` is
a ``Q`` of rows that hold their month back (an undelivered event).  ``PARTITION_LOCAL_UNIQUE`` is a unique
index made on each partition instead of the parent (the chain's place: one month, one partition).

Every step runs in a transaction of its own holding a transaction-scoped advisory lock, with a short
``lock_timeout``: nothing lives in the session, so it works through PgBouncer in transaction mode.
"""

import csv
import datetime
import gzip
import hashlib
import io
import json
import logging
import re
import tempfile
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import Count, Min, Q, Sum
from django.utils import timezone

from . import storage
from .audit_chain import PARTITION_PLACE, period_of

logger = logging.getLogger(__name__)

#: The chained tables' minimum: security logs are kept no less than six months (网络安全法 art. 21, 等保 2.0).
MINIMUM_LOG_MONTHS = 6
ADVISORY_LOCK = int.from_bytes(hashlib.sha256(b"consortium.partitions").digest()[:8], "big", signed=True)
LOCK_TIMEOUT = "5s"
_MONTH_NAME = re.compile(r"_p(\d{4})(\d{2})$")


# -- months -------------------------------------------------------------------------------------------


def month_start(moment: datetime.datetime) -> datetime.datetime:
    """The first instant of ``moment``'s UTC month."""
    utc = moment.astimezone(datetime.UTC)
    return utc.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def add_months(start: datetime.datetime, months: int) -> datetime.datetime:
    index = start.year * 12 + start.month - 1 + months
    return start.replace(year=index // 12, month=index % 12 + 1)


def month_label(start: datetime.datetime) -> str:
    """A month as its archive and its audit chain name it (``YYYY-MM``, UTC): the chain's own rule."""
    return period_of(start)


def partition_name(table: str, start: datetime.datetime) -> str:
    return f"{table}_p{start:%Y%m}"


def default_partition_name(table: str) -> str:
    return f"{table}_pdefault"


def _month_of_name(name: str) -> datetime.datetime | None:
    match = _MONTH_NAME.search(name)
    if not match:
        return None
    return datetime.datetime(int(match[1]), int(match[2]), 1, tzinfo=datetime.UTC)


def _literal(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("'%Y-%m-%d %H:%M:%S+00'")


# -- the tables ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionedTable:
    key: str
    model: type
    column: str

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    @property
    def chained(self) -> bool:
        return bool(getattr(self.model, "CHAIN_FIELDS", ()))

    @property
    def follows(self) -> str | None:
        return getattr(self.model, "PARTITION_FOLLOWS", None)

    @property
    def hold(self) -> Q | None:
        return getattr(self.model, "PARTITION_HOLD", None)

    @property
    def local_unique(self) -> tuple | None:
        return getattr(self.model, "PARTITION_LOCAL_UNIQUE", None)

    @property
    def using(self) -> str:
        return router.db_for_write(self.model)


def partitioned_tables() -> list[PartitionedTable]:
    """Every table that is partitioned by month, the tables others follow last (the order to archive in)."""
    found = [
        PartitionedTable(model.PARTITION_KEY, model, model.PARTITION_BY)
        for model in apps.get_models()
        if getattr(model, "PARTITION_BY", None)
    ]
    followed = {spec.follows for spec in found}
    return sorted(found, key=lambda spec: (spec.key in followed, spec.key))


def retention_months() -> dict[str, int | None]:
    """Each table's retention in whole months after the current one (``None``: kept for ever), effective:
    the chained tables share the longest of theirs (a chain month is archived whole), a followed table is
    kept as long as the tables that follow it."""
    configured = dict(getattr(settings, "PARTITION_RETENTION_MONTHS", {}))
    tables = partitioned_tables()
    months = {spec.key: configured.get(spec.key) for spec in tables}

    def longest(values):
        return None if any(value is None for value in values) else max(values)

    chained = [spec.key for spec in tables if spec.chained]
    if chained:
        shared = longest([months[key] for key in chained])
        for key in chained:
            months[key] = shared
    for spec in tables:
        if spec.follows and spec.follows in months:
            months[spec.follows] = longest([months[spec.follows], months[spec.key]])
    return months


def is_partitioned(spec: PartitionedTable) -> bool:
    connection = connections[spec.using]
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [spec.table])
        row = cursor.fetchone()
    return bool(row) and row[0] == "p"


# -- DDL helpers --------------------------------------------------------------------------------------


def _q(connection, name: str) -> str:
    return connection.ops.quote_name(name)


def _lock(cursor) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK])
    cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    # Deferred foreign-key checks of this transaction's own writes run now: PostgreSQL refuses to detach
    # or drop a table with checks still pending.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _attached(cursor, table: str) -> dict[str, datetime.datetime | None]:
    """The partitions of ``table``: name -> month (``None`` for the default partition)."""
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)",
        [table],
    )
    return {name: _month_of_name(name) for (name,) in cursor.fetchall()}


def _detached(cursor, table: str) -> list[str]:
    """Month tables of ``table`` left detached by a retention run that stopped before its DROP."""
    cursor.execute(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND NOT relispartition AND relname ~ %s "
        "AND relnamespace = 'public'::regnamespace ORDER BY relname",
        [f"^{re.escape(table)}_p[0-9]{{6}}$"],
    )
    return [name for (name,) in cursor.fetchall()]


def _local_unique_sql(connection, partition: str, local_unique) -> str | None:
    if not local_unique:
        return None
    columns, where = local_unique
    cols = ", ".join(_q(connection, column) for column in columns)
    return f"CREATE UNIQUE INDEX {_q(connection, partition + '_uniq')} ON {_q(connection, partition)} ({cols}) WHERE {where}"


def _create_partition_sql(connection, table: str, start: datetime.datetime, local_unique=None, *, name=None) -> list[str]:
    name = name or partition_name(table, start)
    statements = [
        f"CREATE TABLE {_q(connection, name)} PARTITION OF {_q(connection, table)} "
        f"FOR VALUES FROM ({_literal(start)}) TO ({_literal(add_months(start, 1))})"
    ]
    local = _local_unique_sql(connection, name, local_unique)
    if local:
        statements.append(local)
    return statements


def _create_partition_moving_default(cursor, connection, spec: PartitionedTable, start: datetime.datetime) -> int:
    """Create ``start``'s partition; rows of that month already in the default partition move into it
    (PostgreSQL refuses a new partition while the default holds rows of its range).  Returns rows moved."""
    table, column = spec.table, spec.column
    default = default_partition_name(table)
    end = add_months(start, 1)
    cursor.execute(
        f"SELECT count(*) FROM {_q(connection, default)} WHERE {_q(connection, column)} >= %s AND {_q(connection, column)} < %s",  # noqa: S608
        [start, end],
    )
    waiting = cursor.fetchone()[0]
    if not waiting:
        for statement in _create_partition_sql(connection, table, start, spec.local_unique):
            cursor.execute(statement)
        return 0
    name = partition_name(table, start)
    cursor.execute(f"LOCK TABLE {_q(connection, table)} IN SHARE ROW EXCLUSIVE MODE")
    # A default partition that other rows reference (the outbox's, by deliveries) cannot be detached
    # while the key holds: the key is dropped and made again, checked, in this same transaction.  Rare:
    # only when no ensure ran for PARTITION_MONTHS_AHEAD months, and it locks both tables meanwhile.
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE confrelid = to_regclass(%s) AND contype = 'f' AND conparentid = 0",
        [table],
    )
    keys = cursor.fetchall()
    for referrer, key, _definition in keys:
        cursor.execute(f"ALTER TABLE {_q(connection, referrer)} DROP CONSTRAINT {_q(connection, key)}")
    cursor.execute(f"ALTER TABLE {_q(connection, table)} DETACH PARTITION {_q(connection, default)}")
    for statement in _create_partition_sql(connection, table, start, spec.local_unique):
        cursor.execute(statement)
    cursor.execute(
        f"WITH moved AS (DELETE FROM {_q(connection, default)} WHERE {_q(connection, column)} >= %s "  # noqa: S608
        f"AND {_q(connection, column)} < %s RETURNING *) INSERT INTO {_q(connection, name)} SELECT * FROM moved",
        [start, end],
    )
    cursor.execute(f"ALTER TABLE {_q(connection, table)} ATTACH PARTITION {_q(connection, default)} DEFAULT")
    for referrer, key, definition in keys:
        cursor.execute(f"ALTER TABLE {_q(connection, referrer)} ADD CONSTRAINT {_q(connection, key)} {definition}")
    return waiting


# -- ensure -------------------------------------------------------------------------------------------


@dataclass
class EnsureReport:
    created: list[str] = field(default_factory=list)
    moved: int = 0


def ensure_partitions(*, months_ahead: int | None = None, now: datetime.datetime | None = None) -> EnsureReport:
    """Create every missing month partition from the current month to ``months_ahead`` months ahead, and
    one for each month (within retention) that has rows waiting in a default partition.  Idempotent;
    concurrent runs queue on one advisory lock.  A no-op on SQLite."""
    months_ahead = settings.PARTITION_MONTHS_AHEAD if months_ahead is None else months_ahead
    current = month_start(now or timezone.now())
    retention = retention_months()
    report = EnsureReport()
    for spec in partitioned_tables():
        if not is_partitioned(spec):
            continue
        connection = connections[spec.using]
        with transaction.atomic(using=spec.using), connection.cursor() as cursor:
            _lock(cursor)
            attached = _attached(cursor, spec.table)
            have = {month for month in attached.values() if month is not None}
            wanted = {add_months(current, offset) for offset in range(months_ahead + 1)}
            column = _q(connection, spec.column)
            cursor.execute(
                f"SELECT DISTINCT date_trunc('month', {column} AT TIME ZONE 'UTC') "  # noqa: S608
                f"FROM {_q(connection, default_partition_name(spec.table))}"
            )
            floor = add_months(current, -retention[spec.key]) if retention[spec.key] is not None else None
            for (naive,) in cursor.fetchall():
                start = naive.replace(tzinfo=datetime.UTC)
                if floor is None or start >= floor:  # older rows wait for retention, not for a partition
                    wanted.add(start)
            for start in sorted(wanted - have):
                report.moved += _create_partition_moving_default(cursor, connection, spec, start)
                report.created.append(partition_name(spec.table, start))
    if report.created:
        logger.info("partitions created: %s (rows moved from default partitions: %d)", ", ".join(report.created), report.moved)
    return report


# -- listing ------------------------------------------------------------------------------------------


@dataclass
class PartitionInfo:
    key: str
    table: str
    name: str
    month: str  # YYYY-MM, or "default"
    rows: int | None  # the planner's estimate for a month (None before its first ANALYZE); counted for the default
    attached: bool = True


def list_partitions() -> list[PartitionInfo]:
    """Every partition (and detached month table) of the partitioned tables, with its rows: estimated for
    a month (a count of a month at province scale takes minutes), counted for the default partition,
    where rows wait that have no month partition yet (normally none)."""
    found = []
    for spec in partitioned_tables():
        if not is_partitioned(spec):
            continue
        connection = connections[spec.using]
        with connection.cursor() as cursor:
            attached = _attached(cursor, spec.table)
            names = [(name, month, True) for name, month in attached.items()]
            names += [(name, _month_of_name(name), False) for name in _detached(cursor, spec.table)]
            for name, month, is_attached in sorted(names, key=lambda item: (item[1] is None, item[1] or 0, item[0])):
                if month is None:
                    cursor.execute(f"SELECT count(*) FROM {_q(connection, name)}")  # noqa: S608
                else:
                    cursor.execute("SELECT NULLIF(reltuples, -1)::bigint FROM pg_class WHERE oid = to_regclass(%s)", [name])
                label = month_label(month) if month else "default"
                found.append(PartitionInfo(spec.key, spec.table, name, label, cursor.fetchone()[0], is_attached))
    return found


# -- archives -----------------------------------------------------------------------------------------


def archive_name(spec: PartitionedTable, start: datetime.datetime) -> str:
    return f"archive/{spec.key}/{month_label(start)}.csv.gz"


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat(sep=" ")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _write_archive(spec: PartitionedTable, start: datetime.datetime, write_rows) -> str:
    """Gzip what ``write_rows(binary_file)`` writes into a temporary file and store it; returns the name."""
    with tempfile.TemporaryFile() as spool:
        with gzip.GzipFile(fileobj=spool, mode="wb") as zipped:
            write_rows(zipped)
        spool.seek(0)
        return storage.save_stream(archive_name(spec, start), spool)


def read_archive(name: str) -> tuple[list[str], int, int]:
    """Read a stored archive back: its header, how many rows it holds and the sum of their ids."""
    with storage.open_stream(name) as raw, gzip.GzipFile(fileobj=raw, mode="rb") as zipped:
        reader = csv.reader(io.TextIOWrapper(zipped, encoding="utf-8", newline=""))
        header = next(reader)
        position = header.index("id")
        rows = total = 0
        for row in reader:
            rows += 1
            total += int(row[position])
    return header, rows, total


class ArchiveMismatch(Exception):
    """The stored archive does not hold the rows of the month it was made from; nothing was dropped."""


def _check_archive(name: str, rows: int, id_sum: int) -> None:
    _, stored_rows, stored_sum = read_archive(name)
    if (stored_rows, stored_sum) != (rows, id_sum):
        raise ArchiveMismatch(f"{name}: {stored_rows} rows (id sum {stored_sum}) stored, {rows} (id sum {id_sum}) in the table")


# -- retention ----------------------------------------------------------------------------------------


@dataclass
class ArchivedMonth:
    key: str
    month: str
    rows: int
    archive: str


@dataclass
class RetentionReport:
    archived: list[ArchivedMonth] = field(default_factory=list)
    held: list[str] = field(default_factory=list)


def _months_to_archive(spec: PartitionedTable, cutoff: datetime.datetime) -> list[datetime.datetime]:
    """Months of ``spec`` that end on or before ``cutoff``: its month partitions (attached or left
    detached), or on a plain table the months its oldest rows fall in."""
    connection = connections[spec.using]
    if is_partitioned(spec):
        with connection.cursor() as cursor:
            months = {month for month in _attached(cursor, spec.table).values() if month is not None}
            months |= {_month_of_name(name) for name in _detached(cursor, spec.table)}
        return sorted(month for month in months if add_months(month, 1) <= cutoff)
    manager = spec.model._base_manager.using(spec.using)
    oldest = manager.filter(**{f"{spec.column}__lt": cutoff}).aggregate(oldest=Min(spec.column))["oldest"]
    months = []
    start = month_start(oldest) if oldest else cutoff
    while start < cutoff:
        if manager.filter(**{f"{spec.column}__gte": start, f"{spec.column}__lt": add_months(start, 1)}).exists():
            months.append(start)
        start = add_months(start, 1)
    return months


def _held(spec: PartitionedTable, start: datetime.datetime, connection) -> int:
    if spec.hold is None:
        return 0
    if is_partitioned(spec):
        with connection.cursor() as cursor:
            if partition_name(spec.table, start) not in _attached(cursor, spec.table):
                return 0  # already detached: it was checked before that
    in_month = {f"{spec.column}__gte": start, f"{spec.column}__lt": add_months(start, 1)}
    return spec.model._base_manager.using(spec.using).filter(spec.hold, **in_month).count()


def _archive_partition(spec: PartitionedTable, start: datetime.datetime) -> ArchivedMonth:
    """PostgreSQL: detach the month's partition, copy it to storage, check the copy, drop it."""
    connection = connections[spec.using]
    name = partition_name(spec.table, start)
    with transaction.atomic(using=spec.using), connection.cursor() as cursor:
        _lock(cursor)
        if name in _attached(cursor, spec.table):
            cursor.execute(f"ALTER TABLE {_q(connection, spec.table)} DETACH PARTITION {_q(connection, name)}")
    with transaction.atomic(using=spec.using), connection.cursor() as cursor:
        _lock(cursor)
        cursor.execute(f"SELECT count(*), coalesce(sum(id), 0) FROM {_q(connection, name)}")  # noqa: S608
        rows, id_sum = cursor.fetchone()

        def write_rows(out):
            copy_sql = f"COPY (SELECT * FROM {_q(connection, name)} ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER true)"  # noqa: S608
            with cursor.cursor.copy(copy_sql) as copy:
                for chunk in copy:
                    out.write(chunk)

        stored = _write_archive(spec, start, write_rows)
        _check_archive(stored, rows, int(id_sum))
    with transaction.atomic(using=spec.using), connection.cursor() as cursor:
        _lock(cursor)
        cursor.execute(f"DROP TABLE {_q(connection, name)}")
    return ArchivedMonth(spec.key, month_label(start), rows, stored)


def _archive_rows(spec: PartitionedTable, start: datetime.datetime) -> ArchivedMonth:
    """SQLite (plain tables): copy the month's rows to storage, check the copy, delete them, in one transaction."""
    in_month = {f"{spec.column}__gte": start, f"{spec.column}__lt": add_months(start, 1)}
    columns = [f.attname for f in spec.model._meta.concrete_fields]
    with transaction.atomic(using=spec.using):
        rows = spec.model._base_manager.using(spec.using).filter(**in_month)
        totals = rows.aggregate(rows=Count("pk"), id_sum=Sum("pk"))

        def write_rows(out):
            text = io.TextIOWrapper(out, encoding="utf-8", newline="")
            writer = csv.writer(text)
            writer.writerow(columns)
            for values in rows.order_by("pk").values_list(*columns).iterator(chunk_size=2000):
                writer.writerow([_csv_cell(value) for value in values])
            text.flush()
            text.detach()

        stored = _write_archive(spec, start, write_rows)
        _check_archive(stored, totals["rows"], totals["id_sum"] or 0)
        rows._raw_delete(spec.using)  # the sanctioned removal of append-only rows: archived and checked
    return ArchivedMonth(spec.key, month_label(start), totals["rows"], stored)


def _archive_month(spec: PartitionedTable, start: datetime.datetime) -> ArchivedMonth:
    return _archive_partition(spec, start) if is_partitioned(spec) else _archive_rows(spec, start)


def _chain_month_verifies(chained: list[PartitionedTable], start: datetime.datetime) -> list[str]:
    """The chain's problems in ``start``'s month (verified only while every chained table still holds it)."""
    from .audit_verify import verify_period
    from .models import AuditChainHead

    period = month_label(start)
    head = AuditChainHead.objects.filter(period=period).first()
    if head is None or head.archived_at is not None:
        return []
    for spec in chained:
        if is_partitioned(spec):
            with connections[spec.using].cursor() as cursor:
                if partition_name(spec.table, start) not in _attached(cursor, spec.table):
                    return []  # a run that stopped part-way already verified and detached it
    return verify_period(period, head).problems


def _unpartitioned_chain_rows(start: datetime.datetime) -> list[str]:
    """Chained tables that take no part in retention yet hold rows of ``start``'s chain month."""
    from .audit_verify import chained_models

    period = month_label(start)
    return [
        model._meta.label_lower
        for model in chained_models()
        if not getattr(model, "PARTITION_BY", None) and model._base_manager.filter(chain_period=period).exists()
    ]


def _mark_chain_archived(start: datetime.datetime) -> None:
    from .models import AuditChainHead

    with transaction.atomic():
        head = AuditChainHead.objects.select_for_update().filter(period=month_label(start)).first()
        if head is not None and head.archived_at is None:
            head.archived_at = timezone.now()
            head.save(update_fields=["archived_at", "updated_at"])


def apply_retention(
    *, now: datetime.datetime | None = None, older_than: int | None = None, keys: list[str] | None = None
) -> RetentionReport:
    """Archive and remove every month past its table's retention (or past ``older_than`` months, never
    below the legal minimum for the audit tables).  Months are taken oldest first, the tables that follow
    another before it; a month holding unfinished rows (an undispatched event, a pending delivery) or a
    chain month that does not verify is held back and reported."""
    current = month_start(now or timezone.now())
    retention = retention_months()
    every = partitioned_tables()
    wanted = set(keys) if keys is not None else {spec.key for spec in every}
    if any(spec.chained and spec.key in wanted for spec in every):
        wanted |= {spec.key for spec in every if spec.chained}  # one chain month leaves whole
    tables = [spec for spec in every if spec.key in wanted]
    report = RetentionReport()
    chained = [spec for spec in tables if spec.chained]
    plain = [spec for spec in tables if not spec.chained]

    def cutoff_for(spec):
        months = retention[spec.key] if older_than is None else older_than
        if spec.chained and months is not None:
            months = max(months, MINIMUM_LOG_MONTHS)
        return None if months is None else add_months(current, -months)

    for spec in plain:
        cutoff = cutoff_for(spec)
        if cutoff is None:
            continue
        for start in _months_to_archive(spec, cutoff):
            held = _held(spec, start, connections[spec.using])
            if held:
                report.held.append(f"{spec.key} {month_label(start)}: {held}")
                continue
            report.archived.append(_archive_month(spec, start))
    if chained:
        cutoff = cutoff_for(chained[0])  # the chained tables share one retention (retention_months)
        if cutoff is not None:
            months = sorted({start for spec in chained for start in _months_to_archive(spec, cutoff)})
            for start in months:
                unpartitioned = _unpartitioned_chain_rows(start)
                if unpartitioned:
                    # The head would be marked archived while those rows stay: hold the month back.
                    report.held.append(f"audit chain {month_label(start)}: rows in {', '.join(unpartitioned)}")
                    continue
                problems = _chain_month_verifies(chained, start)
                if problems:
                    report.held.append(f"audit chain {month_label(start)}: {len(problems)}")
                    logger.error("audit chain month %s does not verify: not archived", month_label(start))
                    continue
                for spec in chained:
                    if start in _months_to_archive(spec, add_months(start, 1)):
                        report.archived.append(_archive_month(spec, start))
                _mark_chain_archived(start)
    for archived in report.archived:
        logger.info("archived %s %s: %d rows to %s", archived.key, archived.month, archived.rows, archived.archive)
    return report


# -- the migration path -------------------------------------------------------------------------------


def _constraints(cursor, table: str) -> list[tuple[str, str, str]]:
    cursor.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass(%s) ORDER BY conname",
        [table],
    )
    return cursor.fetchall()


def _indexes(cursor, table: str) -> list[tuple[str, str]]:
    """Indexes of ``table`` that back no constraint: (name, definition)."""
    cursor.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = to_regclass(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) "
        "ORDER BY c.relname",
        [table],
    )
    return cursor.fetchall()


def _sequence(cursor, table: str) -> tuple[str, int, bool] | None:
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    name = cursor.fetchone()[0]
    if not name:
        return None
    cursor.execute(f"SELECT last_value, is_called FROM {name}")  # noqa: S608  (a name PostgreSQL gave)
    last_value, is_called = cursor.fetchone()
    return name, last_value, is_called


def _with_column(definition: str, column: str) -> str:
    """``UNIQUE (a, b)`` or ``CREATE UNIQUE INDEX … (a, b) …`` with the partition column added."""
    return re.sub(r"\(([^()]*)\)", lambda match: f"({match[1]}, {column})", definition, count=1)


def _without_column(definition: str, column: str) -> str:
    return re.sub(rf", {re.escape(column)}\)", ")", definition, count=1)


def _swap_in(cursor, connection, table: str, new: str, sequence) -> None:
    cursor.execute(f"INSERT INTO {_q(connection, new)} SELECT * FROM {_q(connection, table)}")  # noqa: S608
    cursor.execute(f"DROP TABLE {_q(connection, table)} CASCADE")
    cursor.execute(f"ALTER TABLE {_q(connection, new)} RENAME TO {_q(connection, table)}")
    if sequence:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        fresh = cursor.fetchone()[0]
        cursor.execute(f"ALTER SEQUENCE {fresh} RENAME TO {_q(connection, table + '_id_seq')}")
        cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, %s)", [table, sequence[1], sequence[2]])


def _remake(cursor, connection, table: str, column: str, constraints, indexes, *, adjust, skip: str | None = None) -> None:
    """Make ``table``'s constraints and indexes again after a swap, unique ones passed through ``adjust``."""
    for name, kind, definition in constraints:
        if kind == "p":
            definition = f"PRIMARY KEY (id, {column})" if adjust is _with_column else "PRIMARY KEY (id)"
        elif kind == "u":
            definition = adjust(definition, column)
        elif kind != "f":
            continue  # CHECK constraints came along with LIKE … INCLUDING CONSTRAINTS
        cursor.execute(f"ALTER TABLE {_q(connection, table)} ADD CONSTRAINT {_q(connection, name)} {definition}")
    for name, definition in indexes:
        if name != skip:
            cursor.execute(adjust(definition, column) if definition.startswith("CREATE UNIQUE") else definition)


def _like(connection, new: str, table: str) -> str:
    return (
        f"CREATE TABLE {_q(connection, new)} (LIKE {_q(connection, table)} INCLUDING DEFAULTS INCLUDING IDENTITY "
        "INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS)"
    )


def partition_table(schema_editor, table: str, column: str, *, chain_place: str | None = None, months_ahead: int = 3) -> None:
    """Migration step: turn the plain ``table`` into one partitioned by month on ``column``, rows kept.

    A new partitioned table is made like the old one, with a partition for each month from the oldest
    row's to ``months_ahead`` ahead and a default one; the rows are copied in, the old table dropped and
    the new one renamed in its place, the id sequence kept where it was.  The primary key becomes
    ``(id, column)`` and every unique constraint gains ``column`` (PostgreSQL asks the partition key of
    each); the audit chain's unique place (the index ``chain_place``) is made on each partition instead.
    Foreign keys into ``table`` must have been dropped first.  PostgreSQL only; plain tables elsewhere.
    """
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {_q(connection, table)} IN ACCESS EXCLUSIVE MODE")
        cursor.execute("SELECT count(*) FROM pg_constraint WHERE confrelid = to_regclass(%s)", [table])
        if cursor.fetchone()[0]:
            raise RuntimeError(f"{table}: foreign keys into it must be dropped before it is partitioned")
        constraints, indexes, sequence = _constraints(cursor, table), _indexes(cursor, table), _sequence(cursor, table)
        new = f"{table}_partitioned"
        cursor.execute(f"{_like(connection, new, table)} PARTITION BY RANGE ({_q(connection, column)})")
        cursor.execute(f"SELECT min({_q(connection, column)}) FROM {_q(connection, table)}")  # noqa: S608
        oldest = cursor.fetchone()[0]
        current = month_start(timezone.now())
        start = month_start(oldest) if oldest and oldest < current else current
        local = PARTITION_PLACE if chain_place else None
        while start <= add_months(current, months_ahead):
            for statement in _create_partition_sql(connection, new, start, local, name=partition_name(table, start)):
                cursor.execute(statement)
            start = add_months(start, 1)
        cursor.execute(f"CREATE TABLE {_q(connection, default_partition_name(table))} PARTITION OF {_q(connection, new)} DEFAULT")
        _swap_in(cursor, connection, table, new, sequence)
        _remake(cursor, connection, table, column, constraints, indexes, adjust=_with_column, skip=chain_place)


def unpartition_table(schema_editor, table: str, column: str, *, chain_place: str | None = None) -> None:
    """The reverse of :func:`partition_table` (a migration rolled back): one plain table again, rows kept."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {_q(connection, table)} IN ACCESS EXCLUSIVE MODE")
        constraints, indexes, sequence = _constraints(cursor, table), _indexes(cursor, table), _sequence(cursor, table)
        new = f"{table}_plain"
        cursor.execute(_like(connection, new, table))
        _swap_in(cursor, connection, table, new, sequence)
        _remake(cursor, connection, table, column, constraints, indexes, adjust=_without_column)
        if chain_place:
            columns, where = PARTITION_PLACE
            cols = ", ".join(_q(connection, name) for name in columns)
            cursor.execute(f"CREATE UNIQUE INDEX {_q(connection, chain_place)} ON {_q(connection, table)} ({cols}) WHERE {where}")


def migration(table: str, column: str, *, chain_place: str | None = None):
    """The migration operation that partitions ``table`` on PostgreSQL (and back, when rolled back)."""
    from django.db.migrations import RunPython

    def forward(apps, schema_editor):
        partition_table(schema_editor, table, column, chain_place=chain_place, months_ahead=settings.PARTITION_MONTHS_AHEAD)

    def backward(apps, schema_editor):
        unpartition_table(schema_editor, table, column, chain_place=chain_place)

    return RunPython(forward, backward)
