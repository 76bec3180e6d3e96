"""Reads of referrals."""

import datetime

from django.db.models import QuerySet

from .models import AWAITING_DECISION, Direction, Referral, ReferralStatus


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


#: A referral in one of these statuses entitles the patient to the referred-visit insurance rules.
ENTITLING = frozenset({ReferralStatus.ACCEPTED, ReferralStatus.ARRIVED, ReferralStatus.IN_TREATMENT, ReferralStatus.COMPLETED})


def has_valid_referral(patient, to_institution, on: datetime.datetime) -> bool:
    """Whether a visit of ``patient`` at ``to_institution`` at time ``on`` came through an upward referral.

    Used by the insurance calculator: a referred patient keeps the normal ratio and the
    deductible already paid at the lower level.
    """
    return Referral.objects.filter(
        patient=patient,
        to_institution=to_institution,
        direction=Direction.UP,
        status__in=ENTITLING,
        submitted_at__lte=on,
    ).exists()
