"""Reads of the consortium domain, always scoped through the permission module."""

from django.db.models import BooleanField, Count, ExpressionWrapper, Q, QuerySet
from django.utils import timezone

from .models import ApiClient, Consortium, Institution, InsuranceOffice, MachineAccessRequest, Membership, Secondment, Staff
from .permissions import Action, institution_ids_for, scope


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


# --- machine access: API clients and the requests to change them ------------------------------


def machine_access_institution_ids(user) -> frozenset[int] | None:
    """Institutions whose machine access the user changes directly or requests changes of (``None``: all)."""
    manage = institution_ids_for(user, Action.MANAGE_MACHINE_ACCESS)
    request = institution_ids_for(user, Action.REQUEST_MACHINE_ACCESS)
    if manage is None or request is None:
        return None
    return manage | request


def machine_access_offices(user) -> QuerySet[InsuranceOffice]:
    """Insurance offices whose tokens the user may request (a consortium administrator in the office's region)."""
    from .approvals import may_request

    if user.is_superuser:
        return InsuranceOffice.objects.all()
    return InsuranceOffice.objects.filter(
        pk__in=[office.pk for office in InsuranceOffice.objects.all() if may_request(user, insurance_office=office)]
    )


def machine_access_institutions(user) -> QuerySet[Institution]:
    ids = machine_access_institution_ids(user)
    institutions = Institution.objects.filter(is_active=True)
    return institutions if ids is None else institutions.filter(pk__in=ids)


def _owned_by(user) -> Q:
    ids = machine_access_institution_ids(user)
    if ids is None:
        return Q()
    return Q(institution_id__in=ids) | Q(insurance_office__in=machine_access_offices(user))


def api_clients_for(user) -> QuerySet[ApiClient]:
    return ApiClient.objects.filter(_owned_by(user)).select_related("institution", "insurance_office").order_by("name", "pk")


def access_requests_for(user) -> QuerySet[MachineAccessRequest]:
    return (
        MachineAccessRequest.objects.filter(_owned_by(user))
        .defer("sealed_secret")  # listed, never read here: only its requester's collection decrypts it
        .annotate(secret_waiting=ExpressionWrapper(~Q(sealed_secret=""), output_field=BooleanField()))
        .select_related("institution", "insurance_office", "api_client", "requested_by__staff", "decided_by__staff")
        .order_by("-requested_at", "-pk")
    )


def secondments_visible_to(user) -> QuerySet[Secondment]:
    return scope(
        Secondment.objects.select_related("from_institution", "to_institution"), user, Action.VIEW_MEMBERSHIPS, "to_institution"
    ).order_by("-starts_on", "pk")
