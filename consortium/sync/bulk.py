"""Set-based inserts: COPY through a staging table on PostgreSQL, ``bulk_create`` elsewhere.

Rows are built as model instances first, so field defaults and database preparation come
from the models themselves; only the transport differs by backend.
"""

from django.db import connection


def _columns(model):
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def _rows(model, objs):
    fields = _columns(model)
    for obj in objs:
        yield [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]


def copy_insert(model, objs) -> None:
    """Insert rows that cannot conflict (children of freshly inserted parents)."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs, batch_size=1000)
        return
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in _columns(model))
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in _rows(model, objs):
            copy.write_row(row)


def copy_upsert_returning(model, objs, *, conflict_target: str, returning: list[str]) -> list[tuple]:
    """Insert rows, skipping those that conflict on ``conflict_target``; return ``returning`` of inserted rows.

    PostgreSQL: COPY into a temporary staging table, then ``INSERT ... SELECT ... ON CONFLICT
    DO NOTHING RETURNING``.  Other backends: the caller has removed known conflicts already,
    and ``bulk_create`` returns primary keys.
    """
    if not objs:
        return []
    if connection.vendor != "postgresql":
        created = model.objects.bulk_create(objs, batch_size=1000)
        return [tuple(getattr(obj, name) for name in returning) for obj in created]
    table = connection.ops.quote_name(model._meta.db_table)
    fields = _columns(model)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    stage = connection.ops.quote_name(f"sync_stage_{model._meta.db_table}")
    returning_sql = ", ".join(connection.ops.quote_name(model._meta.get_field(name).column) for name in returning)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {stage}")
        cursor.execute(f"CREATE TEMPORARY TABLE {stage} AS SELECT {columns} FROM {table} WITH NO DATA")  # noqa: S608
        with cursor.copy(f"COPY {stage} ({columns}) FROM STDIN") as copy:
            for row in _rows(model, objs):
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} "  # noqa: S608
            f"ON CONFLICT {conflict_target} DO NOTHING RETURNING {returning_sql}"
        )
        inserted = cursor.fetchall()
        cursor.execute(f"DROP TABLE {stage}")
    return inserted
