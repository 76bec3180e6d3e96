"""Reads of referrals."""

from django.db.models import QuerySet

from .models import AWAITING_DECISION, Referral


def referral_queue(institution) -> QuerySet[Referral]:
    """Referrals waiting for the institution's decision, the most pressing first."""
    return (
        Referral.objects.filter(to_institution=institution, status__in=AWAITING_DECISION)
        .select_related("patient", "from_institution", "to_department")
        .order_by("due_at", "pk")
    )


def referrals_sent_by(institution) -> QuerySet[Referral]:
    return (
        Referral.objects.filter(from_institution=institution)
        .select_related("patient", "to_institution", "to_department")
        .order_by("-created_at", "-pk")
    )
