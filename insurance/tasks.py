"""Periodic insurance work: batching draft claims and the nightly reconciliation of uploaded files."""

import datetime

from celery import shared_task
from django.db.models import Exists, OuterRef
from django.utils import timezone

from consortium.models import Institution
from consortium.permissions import SYSTEM

from . import services
from .models import ReconciliationRun, SettlementFile

RECENT_DAYS = 35


@shared_task
def batch_draft_claims() -> int:
    """Submit every institution's draft claims, one batch per scheme and period."""
    return services.submit_pending_claims()


@shared_task
def reconcile_pending_files() -> int:
    """Reconcile, per office, institution and period, the newest file only, if nothing ran on it yet.

    A newer file of the same office and period supersedes the older ones for every institution it
    names, so an older file is never reconciled after it (a manual run of the corrected file stays
    the latest); a period the office has closed is left alone.
    """
    done = 0
    recent = SettlementFile.objects.filter(uploaded_at__gte=timezone.now() - datetime.timedelta(days=RECENT_DAYS))
    newest: set[tuple[int, str, str]] = set()
    for settlement in recent.order_by("-uploaded_at", "-pk"):
        codes = sorted(set(settlement.lines.values_list("institution_code", flat=True).distinct()))
        fresh = [code for code in codes if (settlement.office_id, settlement.period, code) not in newest]
        newest.update((settlement.office_id, settlement.period, code) for code in codes)
        already = ReconciliationRun.objects.filter(settlement_file=settlement, institution=OuterRef("pk"))
        newer = ReconciliationRun.objects.filter(
            office_id=settlement.office_id,
            period=settlement.period,
            institution=OuterRef("pk"),
            settlement_file__uploaded_at__gt=settlement.uploaded_at,
        )
        pending = Institution.objects.filter(code__in=fresh).exclude(Exists(already)).exclude(Exists(newer)).order_by("pk")
        for institution in pending:
            if services.is_open_period(institution.pk, settlement.period, office=settlement.office):
                services.run_reconciliation(settlement_file=settlement, institution=institution, actor=SYSTEM)
                done += 1
    return done
