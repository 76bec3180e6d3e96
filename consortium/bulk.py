"""Set-based inserts: COPY through a staging table on PostgreSQL, ``bulk_create`` elsewhere.

Rows are plain dicts keyed by field attname; a field left out gets its model default (``auto_now``
fields get the current time), so a column another app adds with a default needs no change here.
"""

from django.db import connection, transaction
from django.utils import timezone

#: Field types psycopg adapts directly; anything else goes through ``get_db_prep_save``.
_NATIVE = {
    "AutoField",
    "BigAutoField",
    "BigIntegerField",
    "BooleanField",
    "CharField",
    "DateField",
    "DateTimeField",
    "DecimalField",
    "FloatField",
    "ForeignKey",
    "IntegerField",
    "OneToOneField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "SmallIntegerField",
    "TextField",
    "UUIDField",
}


def _columns(model):
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def _defaults(fields) -> dict:
    now = timezone.now()
    defaults = {}
    for f in fields:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            defaults[f.attname] = now
        else:
            defaults[f.attname] = f.get_default()
    return defaults


def _tuples(model, rows: list[dict]):
    fields = _columns(model)
    defaults = _defaults(fields)
    plan = [(f.attname, f.get_internal_type() in _NATIVE, f) for f in fields]
    for row in rows:
        yield [
            (value if native or value is None else f.get_db_prep_save(value, connection))
            for attname, native, f in plan
            for value in (row.get(attname, defaults[attname]),)
        ]


def _instances(model, rows: list[dict]):
    return [model(**row) for row in rows]


def copy_insert(model, rows: list[dict]) -> None:
    """Insert rows that cannot conflict (children of freshly inserted parents)."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(_instances(model, rows), batch_size=1000)
        return
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in _columns(model))
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for values in _tuples(model, rows):
            copy.write_row(values)


def copy_upsert_returning(model, rows: list[dict], *, conflict_target: str, returning: list[str]) -> list[tuple]:
    """Insert rows, skipping those that conflict on ``conflict_target`` (any unique constraint when empty);
    return ``returning`` of inserted rows.

    PostgreSQL: COPY into a temporary staging table, then ``INSERT ... SELECT ... ON CONFLICT
    DO NOTHING RETURNING``.  Other backends: the caller has removed known conflicts already,
    and ``bulk_create`` returns primary keys.
    """
    if not rows:
        return []
    if connection.vendor != "postgresql":
        created = model.objects.bulk_create(_instances(model, rows), batch_size=1000)
        return [tuple(getattr(obj, name) for name in returning) for obj in created]
    table = connection.ops.quote_name(model._meta.db_table)
    fields = _columns(model)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    stage = connection.ops.quote_name(f"sync_stage_{model._meta.db_table}")
    returning_sql = ", ".join(connection.ops.quote_name(model._meta.get_field(name).column) for name in returning)
    # One transaction: behind PgBouncer in transaction mode the staging table exists only on the
    # server connection of this transaction, and ON COMMIT DROP leaves nothing on it for the next client.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {stage}")
        cursor.execute(f"CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS SELECT {columns} FROM {table} WITH NO DATA")  # noqa: S608
        with cursor.copy(f"COPY {stage} ({columns}) FROM STDIN") as copy:
            for values in _tuples(model, rows):
                copy.write_row(values)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} "  # noqa: S608
            f"ON CONFLICT {conflict_target} DO NOTHING RETURNING {returning_sql}"
        )
        inserted = cursor.fetchall()
        cursor.execute(f"DROP TABLE {stage}")
    return inserted


def insert_ignore(model, rows: list[dict], *, key: str) -> dict:
    """Insert rows, skipping any that violate a unique constraint; return ``{key value: pk}`` of every row's key
    that exists afterwards (inserted now or already there)."""
    if not rows:
        return {}
    keys = {row[key] for row in rows}
    if connection.vendor == "postgresql":
        found = dict((value, pk) for pk, value in copy_upsert_returning(model, rows, conflict_target="", returning=["id", key]))
    else:
        model.objects.bulk_create(_instances(model, rows), ignore_conflicts=True, batch_size=1000)
        found = {}
    missing = keys - found.keys()
    if missing:
        found.update(model.objects.filter(**{f"{key}__in": missing}).values_list(key, "pk"))
    return found
