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
    """Reconcile each institution named in a settlement file that has no run against that file yet."""
    done = 0
    recent = SettlementFile.objects.filter(uploaded_at__gte=timezone.now() - datetime.timedelta(days=RECENT_DAYS))
    for settlement in recent.order_by("pk"):
        codes = settlement.lines.values_list("institution_code", flat=True).distinct()
        already = ReconciliationRun.objects.filter(settlement_file=settlement, institution=OuterRef("pk"))
        pending = Institution.objects.filter(code__in=codes).exclude(Exists(already))
        for institution in pending:
            if services.is_open_period(institution.pk, settlement.period):
                services.run_reconciliation(settlement_file=settlement, institution=institution, actor=SYSTEM)
                done += 1
    return done
