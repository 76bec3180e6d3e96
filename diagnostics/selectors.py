"""Reads of diagnostics, scoped to the viewer.

Who sees an order: staff of the ordering institution (``view_diagnostics`` there), and at the
centre's institution the staff who may view diagnostics there — except that a diagnostic reader sees
only the centres they read for, so a radiologist does not browse the ECG centre's studies.
Anything else is a 404 (:func:`order_or_404`).
"""

from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Exists, OuterRef, Q, QuerySet, Value
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _

from consortium.models import StaffRole
from consortium.permissions import Action, can, institution_ids_for, staff_of
from records.registry import TimelineEntry

from .models import (
    OPEN_STATUSES,
    REPORTED_STATUSES,
    WORKLIST_STATUSES,
    Centre,
    Consultation,
    ConsultationStatus,
    CriticalValue,
    DiagnosticNotification,
    Order,
    Reader,
)


def reader_centre_ids(user) -> set[int]:
    staff = staff_of(user)
    if staff is None:
        return set()
    return set(Reader.objects.filter(staff=staff, is_active=True).values_list("centre_id", flat=True))


def _visible(user, *, ordering_field: str, centre_field: str) -> Q | None:
    """A filter for rows the user may see, or None for everything (superusers)."""
    ids = institution_ids_for(user, Action.VIEW_DIAGNOSTICS)
    if ids is None:
        return None
    condition = Q(**{f"{ordering_field}__in": ids})
    staff = staff_of(user)
    if staff is not None and staff.role == StaffRole.DIAGNOSTIC_READER:
        condition |= Q(**{f"{centre_field}__in": reader_centre_ids(user)})
    else:
        condition |= Q(**{f"{centre_field}__institution_id__in": ids})
    return condition


def visible_orders(user) -> QuerySet[Order]:
    orders = Order.objects.select_related("patient", "service", "centre__institution", "ordering_institution")
    condition = _visible(user, ordering_field="ordering_institution_id", centre_field="centre")
    return orders if condition is None else orders.filter(condition)


def order_or_404(user, pk) -> Order:
    order = visible_orders(user).filter(pk=pk).first()
    if order is None:
        raise Http404
    return order


def clinic_orders(user, institution_id: int, *, status: str = "") -> QuerySet[Order]:
    """Orders the user's institution placed, newest first."""
    orders = visible_orders(user).filter(ordering_institution_id=institution_id)
    if status:
        orders = orders.filter(status=status)
    return orders.order_by("-requested_at", "-pk")


def centres_for(user) -> QuerySet[Centre]:
    """Centres whose worklist the user may open: a reader's own centres, or the centres of their hospital."""
    staff = staff_of(user)
    centres = Centre.objects.select_related("institution", "consortium").filter(is_active=True)
    if user.is_superuser:
        return centres
    if staff is None:
        return centres.none()
    if staff.role == StaffRole.DIAGNOSTIC_READER:
        return centres.filter(pk__in=reader_centre_ids(user))
    ids = institution_ids_for(user, Action.RUN_DIAGNOSTIC_CENTRE) or frozenset()
    return centres.filter(institution_id__in=ids)


def centre_or_404(user, pk) -> Centre:
    centre = centres_for(user).filter(pk=pk).first()
    if centre is None:
        raise Http404
    return centre


def worklist_centre_or_404(user, pk) -> Centre:
    """The centre for its worklist page in one query, with ``is_reader``: whether the user reads for it.

    A reader's centres are those they read for, so the condition and the flag are one join; anyone
    else may open the centres of their hospital and is a reader there only by a Reader row.
    """
    staff = staff_of(user)
    centres = Centre.objects.filter(pk=pk, is_active=True)
    if staff is not None and staff.role == StaffRole.DIAGNOSTIC_READER and not user.is_superuser:
        centre = centres.filter(readers__staff=staff, readers__is_active=True).annotate(is_reader=Value(True)).first()
    else:
        reads = Reader.objects.filter(centre=OuterRef("pk"), staff=staff, is_active=True) if staff else Reader.objects.none()
        centre = centres_for(user).filter(pk=pk).annotate(is_reader=Exists(reads)).first()
    if centre is None:
        raise Http404
    return centre


#: How long a process may reuse a centre's filter choices (modalities it offers, institutions it serves), seconds.
WORKLIST_CHOICES_TTL = 60


def worklist_choices(centre: Centre) -> tuple[list[str], list[tuple[int, str]]]:
    """The modalities the centre offers and ``(id, name)`` of the institutions it serves, for the worklist's filter.

    They change when an administrator edits the centre, a few times a year; the worklist is the
    centre's busiest page, so they are cached for a minute.
    """
    return cache.get_or_set(
        f"diagnostics:worklist-choices:{centre.pk}",
        lambda: (
            sorted(set(centre.services.values_list("modality", flat=True))),
            list(centre.served_institutions.order_by("code").values_list("pk", "name")),
        ),
        WORKLIST_CHOICES_TTL,
    )


WORKLIST_ROW_FIELDS = (
    "id", "accession", "urgency", "due_at", "status", "service__name", "ordering_institution__name",
    "claimed_by__staff__display_name",
)  # fmt: skip


@dataclass(frozen=True)
class WorklistPage:
    rows: list[dict]
    number: int
    has_next: bool


def worklist_page(
    centre: Centre, *, modality: str = "", institution_id: int | None = None, page: str | None = None, per_page: int = 50
) -> WorklistPage:
    """One page of the worklist as plain rows, read with one query (one row more than the page tells
    whether a next page exists, instead of counting the whole worklist)."""
    number = int(page) if page and page.isdigit() and int(page) > 0 else 1
    start = (number - 1) * per_page
    rows = list(
        worklist(centre, modality=modality, institution_id=institution_id).values(*WORKLIST_ROW_FIELDS)[
            start : start + per_page + 1
        ]
    )
    return WorklistPage(rows[:per_page], number, len(rows) > per_page)


def worklist(
    centre: Centre, *, modality: str = "", institution_id: int | None = None, include_claimed: bool = True
) -> QuerySet[Order]:
    """The centre's studies to read: most urgent first, then the earliest due."""
    statuses = WORKLIST_STATUSES if include_claimed else {"received"}
    orders = (
        Order.objects.filter(centre=centre, status__in=statuses)
        .select_related("service", "ordering_institution", "claimed_by__staff")
        .order_by("urgency_rank", "due_at", "pk")
    )
    if modality:
        orders = orders.filter(modality=modality)
    if institution_id:
        orders = orders.filter(ordering_institution_id=institution_id)
    return orders


def incoming_samples(centre: Centre) -> QuerySet:
    from .models import Sample, SampleStatus

    return Sample.objects.filter(order__centre=centre, status=SampleStatus.SENT).select_related("order__ordering_institution")


def current_version(order: Order):
    """The latest signed version, else the one being written."""
    versions = list(order.report_versions.prefetch_related("observations").select_related("author__staff", "reviewed_by__staff"))
    signed = [v for v in versions if v.signed_at is not None]
    return signed[0] if signed else (versions[0] if versions else None)


def visible_critical_values(user) -> QuerySet[CriticalValue]:
    values = CriticalValue.objects.select_related(
        "order__ordering_institution", "order__centre", "order__service", "acknowledged_by__staff", "closed_by__staff"
    )
    condition = _visible(user, ordering_field="order__ordering_institution_id", centre_field="order__centre")
    return values if condition is None else values.filter(condition)


def critical_or_404(user, pk) -> CriticalValue:
    value = visible_critical_values(user).filter(pk=pk).first()
    if value is None:
        raise Http404
    return value


def visible_consultations(user) -> QuerySet[Consultation]:
    consultations = Consultation.objects.select_related("patient", "centre__institution", "requesting_institution")
    condition = _visible(user, ordering_field="requesting_institution_id", centre_field="centre")
    return consultations if condition is None else consultations.filter(condition)


def consultation_or_404(user, pk) -> Consultation:
    consultation = visible_consultations(user).filter(pk=pk).first()
    if consultation is None:
        raise Http404
    return consultation


def notifications_for(user) -> QuerySet[DiagnosticNotification]:
    return DiagnosticNotification.objects.filter(recipient=user)


def unread_count(user) -> int:
    return DiagnosticNotification.objects.filter(recipient=user, is_read=False).count()


def orderable_services(institution_id: int):
    from .models import CentreService

    return (
        CentreService.objects.filter(is_active=True, centre__is_active=True, centre__served_institutions=institution_id)
        .select_related("centre__institution")
        .order_by("centre__code", "code")
    )


# --- hooks for records -------------------------------------------------------------------------------


def patients_with_open_order_q(institution_id: int) -> Q:
    """Patients whose open order or consultation is with a centre the institution runs."""
    ordered = Order.objects.filter(centre__institution_id=institution_id, status__in=OPEN_STATUSES).values("patient_id")
    consulted = Consultation.objects.filter(
        centre__institution_id=institution_id, status__in=[ConsultationStatus.REQUESTED, ConsultationStatus.SCHEDULED]
    ).values("patient_id")
    return Q(pk__in=ordered) | Q(pk__in=consulted)


def timeline_entries(user, patient) -> list[TimelineEntry]:
    """Signed reports and consultation opinions of the patient, for the viewer's shared timeline."""
    if not (user.is_superuser or can(user, Action.VIEW_PATIENT, getattr(staff_of(user), "institution_id", 0) or 0)):
        return []
    entries = []
    orders = Order.objects.filter(patient=patient, status__in=REPORTED_STATUSES).select_related("service", "centre")
    for order in orders.order_by("-reported_at")[:50]:
        version = order.report_versions.filter(signed_at__isnull=False).order_by("-number").first()
        entries.append(
            TimelineEntry(
                at=order.reported_at,
                title=_("%(service)s report (%(accession)s)") % {"service": order.service.name, "accession": order.accession},
                institution=order.centre.name,
                summary=version.impression[:200] if version else "",
                link=reverse("diagnostics:order-detail", args=[order.pk]),
            )
        )
    consultations = Consultation.objects.filter(patient=patient, status=ConsultationStatus.COMPLETED).select_related("centre")
    for consultation in consultations.order_by("-opinion_at")[:20]:
        entries.append(
            TimelineEntry(
                at=consultation.opinion_at,
                title=_("Remote consultation opinion #%(id)s") % {"id": consultation.pk},
                institution=consultation.centre.name,
                summary=consultation.opinion[:200],
                link=reverse("diagnostics:consultation-detail", args=[consultation.pk]),
            )
        )
    return entries
