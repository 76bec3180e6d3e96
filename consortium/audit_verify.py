"""Verifying the audit chain (``manage.py verify_audit_chain``): every seal recomputed, month by month.

See :mod:`consortium.audit_chain` for what a seal covers.  Each month's rows of every chained table
are read in sequence order (two streams merged, in chunks, so memory stays flat however long the
month) and checked against the row before them and against the month's head.
"""

import heapq
import hmac
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.apps import apps
from django.utils.translation import gettext as _

from .audit_chain import chain_values, genesis_hash, head_mac, row_mac
from .models import AuditChainHead, ChainedRecord


def chained_models() -> list:
    return sorted(
        (model for model in apps.get_models() if issubclass(model, ChainedRecord)), key=lambda model: model._meta.label_lower
    )


@dataclass
class PeriodReport:
    period: str
    rows: int = 0
    head_count: int | None = None
    last_hash: str = ""
    archived: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def chain_rows(model, period: str, chunk: int) -> Iterator[tuple[int, str, object]]:
    fields = ["pk", "chain_seq", "prev_hash", "row_hash", *model.CHAIN_FIELDS]
    rows = model._base_manager.filter(chain_period=period).order_by("chain_seq").only(*fields).iterator(chunk_size=chunk)
    label = model._meta.label_lower
    for row in rows:
        yield row.chain_seq, label, row


def verify_period(period: str, head, *, chunk: int = 2000) -> PeriodReport:
    """Walk one month's chain across every chained table, merged by sequence number."""
    report = PeriodReport(period, head_count=head.count if head else None)
    if head is not None and head.archived_at is not None:
        report.archived = True
        report.last_hash = head.last_hash
        if not hmac.compare_digest(head.mac, head_mac(period, head.count, head.last_hash)):
            report.problems.append(_("the chain head was changed (its seal does not match)"))
        return report
    expected_prev = genesis_hash(period)
    expected_seq = 1
    streams = [chain_rows(model, period, chunk) for model in chained_models()]
    for seq, label, row in heapq.merge(*streams, key=lambda item: item[0]):
        report.rows += 1
        where = f"{label}#{row.pk} (no. {seq})"
        if seq > expected_seq:
            report.problems.append(
                _("rows no. %(first)d–%(last)d are missing before %(row)s: deleted")
                % {"first": expected_seq, "last": seq - 1, "row": where}
            )
        elif seq < expected_seq:
            report.problems.append(_("%(row)s repeats a sequence number") % {"row": where})
        if row.prev_hash != expected_prev:
            report.problems.append(_("%(row)s does not follow the row before it (its previous seal differs)") % {"row": where})
        if not hmac.compare_digest(row.row_hash, row_mac(label, period, seq, row.prev_hash, chain_values(row))):
            report.problems.append(_("%(row)s was changed after it was written (its seal does not match)") % {"row": where})
        expected_prev, expected_seq = row.row_hash, max(expected_seq, seq + 1)
    report.last_hash = expected_prev
    if head is None:
        report.problems.append(_("no chain head for this month: its head record was deleted"))
        return report
    if not hmac.compare_digest(head.mac, head_mac(period, head.count, head.last_hash)):
        report.problems.append(_("the chain head was changed (its seal does not match)"))
    if head.count > expected_seq - 1:
        report.problems.append(
            _("the head counts %(count)d rows but the chain ends at no. %(last)d: the newest rows were deleted")
            % {"count": head.count, "last": expected_seq - 1}
        )
    elif head.count < expected_seq - 1:
        report.problems.append(
            _("rows after no. %(count)d (the head's last) are not covered by the head") % {"count": head.count}
        )
    if head.last_hash != expected_prev and head.count == expected_seq - 1:
        report.problems.append(_("the newest row is not the one the head recorded"))
    return report


def verify(periods: Iterable[str] | None = None, *, chunk: int = 2000) -> list[PeriodReport]:
    """Verify every month (or the given ones): rows with no head, heads with no rows, every seal."""
    heads = {head.period: head for head in AuditChainHead.objects.all()}
    known = set(heads)
    for model in chained_models():
        known |= set(model._base_manager.values_list("chain_period", flat=True).distinct())
    unsealed = {model._meta.label_lower: model._base_manager.filter(row_hash="").count() for model in chained_models()}
    wanted = sorted(set(periods) if periods is not None else known)
    reports = [verify_period(period, heads.get(period), chunk=chunk) for period in wanted if period]
    for label, count in unsealed.items():
        if count:
            report = PeriodReport("unsealed")
            report.problems.append(_("%(count)d rows of %(table)s carry no seal") % {"count": count, "table": label})
            reports.append(report)
    return reports
