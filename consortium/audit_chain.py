"""The audit trail's hash chain: every audit event and access-log entry is sealed as it is appended,
so that an edit or a deletion of any row — the newest included — is found by ``verify_audit_chain``.

What a row's seal is, in order:

1. The row belongs to the chain of its month (``chain_period``, ``YYYY-MM`` of ``occurred_at`` in
   UTC).  Both tables (:class:`consortium.models.AuditEvent` and ``records.AccessLog``, every concrete
   subclass of :class:`consortium.models.ChainedRecord`) share one chain per month: one sequence, one
   head, one lock.  One lock for both means a transaction that writes an access-log entry and an
   audit event can never deadlock against one that writes them the other way round.
2. Appending locks the month's :class:`consortium.models.AuditChainHead` (``SELECT … FOR UPDATE``, in
   the caller's transaction, created on first use with ``INSERT … ON CONFLICT DO NOTHING``), gives the
   row the next sequence number, ``prev_hash`` = the head's last hash (a per-month genesis value for
   the first row) and ``row_hash`` = HMAC-SHA256 under ``AUDIT_CHAIN_KEY`` of the table, the month,
   the sequence number, ``prev_hash`` and the row's audited fields (``CHAIN_FIELDS``).  The head then
   stores the new count and last hash, sealed with its own HMAC.  Concurrent appends wait on the
   head's row lock until the first transaction commits or rolls back, so sequence numbers never
   fork and a rolled-back append leaves no gap.
3. Verification (:mod:`consortium.audit_verify`) walks each month's rows of both tables merged by sequence number and recomputes
   every seal: an edited row fails its own HMAC; a row deleted in the middle leaves a gap in the
   sequence and breaks the next row's ``prev_hash``; a deleted newest row (or several) leaves fewer
   rows than the head's count and a last hash that is not the head's.  A head edited to hide that
   fails the head's HMAC.

The key is its own (``AUDIT_CHAIN_KEY``), separate from ``SECRET_KEY`` and the lookup-hash key, so
that rotating either of those never invalidates the trail; every process that writes audit rows
(web, workers, beat) must hold the same key.

Months are the seam for archiving (``docs/AUDIT.md``): a month's chain starts from its own genesis
value, so the rows of an old month can be exported and removed (a dropped partition) while its head
row — count and last hash — stays behind as the record of what was archived.
"""

import datetime
import hashlib
import hmac
import json

from django.conf import settings

GENESIS = "genesis"
#: The chain's place on PostgreSQL: unique in each month partition (``consortium.partitions``), which is
#: the rule of the models' constraint because a chain month never spans two partitions.
PARTITION_PLACE = (("chain_period", "chain_seq"), "chain_period <> ''")


def _key() -> bytes:
    return settings.AUDIT_CHAIN_KEY.encode()


def period_of(moment: datetime.datetime) -> str:
    """The chain a row joins: the UTC month of its ``occurred_at``."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m")


def _canonical(value):
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def row_material(label: str, period: str, seq: int, prev_hash: str, values: dict) -> bytes:
    """What a row's HMAC covers, as canonical JSON (JSON values round-tripped so a stored tuple hashes as a list)."""
    body = {name: _canonical(value) for name, value in values.items()}
    body = json.loads(json.dumps(body, default=str))
    return json.dumps([label, period, seq, prev_hash, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_mac(label: str, period: str, seq: int, prev_hash: str, values: dict) -> str:
    return hmac.new(_key(), row_material(label, period, seq, prev_hash, values), hashlib.sha256).hexdigest()


def genesis_hash(period: str) -> str:
    return hmac.new(_key(), f"{GENESIS}:{period}".encode(), hashlib.sha256).hexdigest()


def head_mac(period: str, count: int, last_hash: str) -> str:
    return hmac.new(_key(), f"head:{period}:{count}:{last_hash}".encode(), hashlib.sha256).hexdigest()


def chain_values(obj) -> dict:
    return {name: getattr(obj, obj._meta.get_field(name).attname) for name in obj.CHAIN_FIELDS}


def seal_existing_rows(apps, app_label: str, model_name: str, fields: tuple[str, ...]) -> int:
    """For the migration that introduced the chain: seal the rows written before it, oldest first.

    Takes the historical models of a migration; the live models seal rows as they are inserted."""
    model = apps.get_model(app_label, model_name)
    heads = apps.get_model("consortium", "AuditChainHead").objects
    label = f"{app_label}.{model_name}".lower()
    attnames = {name: model._meta.get_field(name).attname for name in fields}
    sealed = 0
    for row in model._base_manager.filter(row_hash="").order_by("occurred_at", "pk").iterator(chunk_size=2000):
        period = period_of(row.occurred_at)
        head = heads.filter(period=period).first()
        if head is None:
            genesis = genesis_hash(period)
            head = heads.create(period=period, count=0, last_hash=genesis, mac=head_mac(period, 0, genesis))
        seq = head.count + 1
        values = {name: getattr(row, attname) for name, attname in attnames.items()}
        row_hash = row_mac(label, period, seq, head.last_hash, values)
        model._base_manager.filter(pk=row.pk).update(
            chain_period=period, chain_seq=seq, prev_hash=head.last_hash, row_hash=row_hash
        )
        heads.filter(pk=head.pk).update(count=seq, last_hash=row_hash, mac=head_mac(period, seq, row_hash))
        sealed += 1
    return sealed
