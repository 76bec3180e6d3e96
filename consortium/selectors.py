"""Reads of the consortium domain, always scoped through the permission module."""

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from .models import Consortium, Institution, Membership, Staff
from .permissions import Action, scope


def institutions_visible_to(user) -> QuerySet[Institution]:
    return scope(Institution.objects.select_related("parent"), user, Action.VIEW_INSTITUTION, field="pk")


def staff_at(institution: Institution) -> QuerySet[Staff]:
    return Staff.objects.filter(institution=institution).select_related("user", "department").order_by("role", "display_name")


def consortia_administered_by(user) -> QuerySet[Consortium]:
    ids = scope(Membership.objects.all(), user, Action.VIEW_MEMBERSHIPS).values("consortium_id")
    today = timezone.localdate()
    active = Q(memberships__agreement_start__lte=today) & (
        Q(memberships__agreement_end__isnull=True) | Q(memberships__agreement_end__gte=today)
    )
    return Consortium.objects.filter(pk__in=ids).annotate(active_members=Count("memberships", filter=active))


def memberships_visible_to(user) -> QuerySet[Membership]:
    return scope(Membership.objects.select_related("consortium", "institution"), user, Action.VIEW_MEMBERSHIPS).order_by(
        "consortium__code", "-role", "institution__code"
    )
