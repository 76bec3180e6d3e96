"""Set-based inserts: COPY through a staging table on PostgreSQL, ``bulk_create`` elsewhere.

Rows are plain dicts keyed by field attname; a field left out gets its model default (``auto_now``
fields get the current time), so a column another app adds with a default needs no change here.
"""

import json

from django.db import connection, transaction
from django.utils import timezone

from . import phases

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


#: The PostgreSQL type whose dumper writes a field's COPY values, by the field's internal type.  Told
#: to COPY once (``set_types``), it spares psycopg choosing a dumper for every value (a quarter of
#: the COPY's Python time).  JSON and encrypted values arrive as their text (:func:`_prepare`).
_COPY_TYPES = {
    **dict.fromkeys(
        ("AutoField", "BigAutoField", "BigIntegerField", "IntegerField", "PositiveIntegerField", "PositiveSmallIntegerField"),
        "int8",
    ),
    "SmallIntegerField": "int8",
    "CharField": "text",
    "TextField": "text",
    "BooleanField": "bool",
    "DateField": "date",
    "DateTimeField": "timestamptz",
    "DecimalField": "numeric",
    "FloatField": "float8",
}


def _copy_types(fields, *, prepared_as_text=()) -> list[str] | None:
    """The dumper types of ``fields`` for ``Copy.set_types``, or None when one is not plain (then psycopg picks per value).

    ``prepared_as_text``: internal types whose values the caller has turned into their text already.
    """
    types = []
    for f in fields:
        target = f.target_field if f.is_relation else f
        kind = target.get_internal_type()
        name = "text" if kind in prepared_as_text else _COPY_TYPES.get(kind)
        if name is None:
            return None
        types.append(name)
    return types


def _defaults(fields) -> dict:
    now = timezone.now()
    defaults = {}
    for f in fields:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            defaults[f.attname] = now
        else:
            defaults[f.attname] = f.get_default()
    return defaults


def _tuples(model, rows: list[dict]) -> list[list]:
    """The rows as COPY values in column order; a non-native column (encrypted, JSON) converted column-wise."""
    fields = _columns(model)
    defaults = _defaults(fields)
    columns = []
    for f in fields:
        attname, default = f.attname, defaults[f.attname]
        values = [row.get(attname, default) for row in rows]
        kind = f.get_internal_type()
        if kind not in _NATIVE:
            with phases.phase(f"encrypt {model._meta.db_table}" if kind == "EncryptedCharField" else "serialise"):
                values = [value if value is None else f.get_db_prep_save(value, connection) for value in values]
        columns.append(values)
    return list(zip(*columns, strict=True)) if columns else []


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
    values = _tuples(model, rows)
    with phases.phase(f"COPY {model._meta.db_table}"), connection.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)


def copy_rows(model, names: list[str], rows: list[tuple]) -> None:
    """:func:`copy_insert` for rows given as tuples of the fields ``names`` (attnames); other columns get their defaults.

    For the tens of thousands of child rows of a batch chunk: no dict per row.  A JSON value is
    serialised once per distinct object (an event payload shared by a chunk's rows is written
    as one text); encrypted fields are not taken here (each value needs its own nonce).
    """
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create([model(**dict(zip(names, row, strict=True))) for row in rows], batch_size=1000)
        return
    fields = {f.attname: f for f in _columns(model)}
    given = [fields[name] for name in names]
    rest = [f for name, f in fields.items() if name not in set(names)]
    defaults = _defaults(rest)
    tail = tuple(_prepare(f, defaults[f.attname]) for f in rest)
    special = [(i, f) for i, f in enumerate(given) if f.get_internal_type() not in _NATIVE]
    if any(f.get_internal_type() == "EncryptedCharField" for _i, f in special):
        raise ValueError("copy_rows does not take encrypted fields; use copy_insert")
    if special:
        with phases.phase("serialise"):
            seen: dict[tuple[int, int], object] = {}
            prepared = []
            for row in rows:
                row = list(row)
                for i, f in special:
                    value = row[i]
                    key = (i, id(value))
                    if key not in seen:
                        seen[key] = _prepare(f, value)
                    row[i] = seen[key]
                prepared.append(row)
            rows = prepared
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in [*given, *rest])
    types = _copy_types([*given, *rest], prepared_as_text=("JSONField",))
    with phases.phase(f"COPY {model._meta.db_table}"), connection.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            if types:
                copy.set_types(types)
            for row in rows:
                copy.write_row((*row, *tail))


def _prepare(f, value):
    """A value of field ``f`` as COPY takes it: JSON as its text, other non-native types as the field prepares them."""
    if value is None or f.get_internal_type() in _NATIVE:
        return value
    if f.get_internal_type() == "JSONField":
        return json.dumps(value, cls=f.encoder)
    return f.get_db_prep_save(value, connection)


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
    values = _tuples(model, rows)
    with transaction.atomic(), connection.cursor() as cursor:
        with phases.phase(f"staging COPY {model._meta.db_table}"):
            cursor.execute(f"DROP TABLE IF EXISTS {stage}")
            cursor.execute(f"CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS SELECT {columns} FROM {table} WITH NO DATA")  # noqa: S608
            with cursor.copy(f"COPY {stage} ({columns}) FROM STDIN") as copy:
                types = _copy_types(fields, prepared_as_text=("EncryptedCharField",))
                if types:
                    copy.set_types(types)
                for row in values:
                    copy.write_row(row)
        with phases.phase(f"INSERT ... ON CONFLICT {model._meta.db_table}"):
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
