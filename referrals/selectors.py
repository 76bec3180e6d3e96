"""Reads of referrals: queues, timelines, capacity, follow-ups, notifications."""

import datetime

from django.contrib.auth import get_user_model
from django.db.models import Avg, Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from consortium.models import Department, Institution, Membership, StaffRole
from consortium.permissions import Action, Relation, institution_ids_for, relation_to, scope, staff_of

from .models import (
    AWAITING_DECISION,
    Direction,
    FollowUpStatus,
    FollowUpTask,
    Notification,
    Referral,
    ReferralDueTimePolicy,
    ReferralSlot,
    ReferralStatus,
    SatisfactionRating,
)

_QUEUE_ROW = ("patient", "from_institution", "to_institution", "to_department")
#: What a row of a referral table shows (queue page and API): read as plain values, since building
#: model instances for 50 rows and four joined tables was a large share of the queue's time.
ROW_VALUES = (
    "id", "direction", "status", "urgency", "submitted_at", "due_at", "appointment_at", "escalation_level",
    "patient_id", "patient__name", "from_institution__code", "from_institution__name", "to_institution__code",
    "to_institution__name", "to_department__code", "to_department__name",
)  # fmt: skip


def referral_queue(institution) -> QuerySet[Referral]:
    """Referrals waiting for the institution's decision, the most pressing first."""
    return (
        Referral.objects.filter(to_institution=institution, status__in=AWAITING_DECISION)
        .select_related(*_QUEUE_ROW)
        .order_by("due_at", "pk")
    )


#: Waiting-time filter of the queue: label key -> minimum hours since submission.
WAITING_HOURS = {"4h": 4, "24h": 24, "72h": 72}


def filtered_queue(
    institution,
    *,
    urgency: str = "",
    department_id: int | None = None,
    status: str = "",
    waiting: str = "",
    now: datetime.datetime | None = None,
) -> "ReferralRows":
    """Rows of the coordinator's queue with its filters, by due time; ``status`` defaults to 'awaiting decision'."""
    queryset = Referral.objects.filter(to_institution=institution)
    queryset = queryset.filter(status=status) if status else queryset.filter(status__in=AWAITING_DECISION)
    if urgency:
        queryset = queryset.filter(urgency=urgency)
    if department_id:
        queryset = queryset.filter(to_department_id=department_id)
    if waiting in WAITING_HOURS:
        cutoff = (now or timezone.now()) - datetime.timedelta(hours=WAITING_HOURS[waiting])
        queryset = queryset.filter(submitted_at__lte=cutoff)
    return referral_rows(queryset.order_by("due_at", "pk"))


class ReferralRows:
    """A referral queryset seen as table rows, for a paginator.

    Counting runs on the plain queryset (without the joins the row values need), and a slice
    fetches only that page's rows as values.
    """

    def __init__(self, queryset: QuerySet[Referral]):
        self.queryset = queryset
        self.ordered = queryset.ordered

    def count(self) -> int:
        return self.queryset.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, item):
        if isinstance(item, slice):
            return list(self.queryset[item].values(*ROW_VALUES))
        return self.queryset.values(*ROW_VALUES)[item]

    def __iter__(self):
        return iter(self.queryset.values(*ROW_VALUES))


def referral_rows(queryset: QuerySet[Referral]) -> ReferralRows:
    return ReferralRows(queryset)


def referrals_sent_by(institution) -> QuerySet[Referral]:
    return (
        Referral.objects.filter(from_institution=institution)
        .select_related("patient", "to_institution", "to_department")
        .order_by("-created_at", "-pk")
    )


def referrals_visible_to(user) -> QuerySet[Referral]:
    """Referrals the user may open: sent from or to their own institution, where they may view referrals.

    A referral carries the patient's name and clinical snapshot, so only the two institutions
    it runs between see it; consortium administrators get the aggregates of the dashboard.
    """
    queryset = Referral.objects.all()
    ids = institution_ids_for(user, Action.VIEW_REFERRALS)
    if ids is not None:
        staff = staff_of(user)
        own = {staff.institution_id} & ids if staff is not None and staff.institution_id else set()
        queryset = queryset.filter(Q(from_institution__in=own) | Q(to_institution__in=own))
    return queryset.select_related("patient", "from_institution", "to_institution", "to_department", "slot")


def referral_timeline(referral: Referral):
    return referral.events.select_related("actor__staff").order_by("occurred_at", "pk")


#: A referral in one of these statuses entitles the patient to the referred-visit insurance rules.
ENTITLING = frozenset({ReferralStatus.ACCEPTED, ReferralStatus.ARRIVED, ReferralStatus.IN_TREATMENT, ReferralStatus.COMPLETED})


def has_valid_referral(patient, to_institution, on: datetime.datetime) -> bool:
    """Whether a visit of ``patient`` at ``to_institution`` at time ``on`` came through an upward referral.

    Used by the insurance calculator: a referred patient keeps the normal ratio and the
    deductible already paid at the lower level.  The referral must have been submitted
    before the visit and accepted (or gone further); a rejected, redirected, cancelled or
    expired referral does not count.
    """
    return Referral.objects.filter(
        patient=patient,
        to_institution=to_institution,
        direction=Direction.UP,
        status__in=ENTITLING,
        submitted_at__lte=on,
    ).exists()


def due_time_policy_for(from_institution_id: int, to_institution_id: int) -> ReferralDueTimePolicy:
    """The due-time policy of a consortium both institutions actively belong to, or the defaults."""
    shared = (
        Membership.objects.active()
        .filter(institution_id=from_institution_id)
        .filter(consortium__memberships__institution_id=to_institution_id)
        .values("consortium_id")
    )
    policy = ReferralDueTimePolicy.objects.filter(consortium_id__in=shared).order_by("consortium_id").first()
    return policy or ReferralDueTimePolicy()


def due_time_policy_of(consortium) -> ReferralDueTimePolicy:
    return ReferralDueTimePolicy.objects.filter(consortium=consortium).first() or ReferralDueTimePolicy(consortium=consortium)


def users_with_role(institution_id: int, roles) -> QuerySet:
    return get_user_model().objects.filter(is_active=True, staff__institution_id=institution_id, staff__role__in=list(roles))


def receiving_roles(direction: str) -> tuple[str, ...]:
    if direction == Direction.UP:
        return (StaffRole.REFERRAL_COORDINATOR,)
    return (StaffRole.CLINIC_CLINICIAN, StaffRole.CLINIC_CLERK)


def referral_departments_for(user) -> QuerySet[Department]:
    """Departments of hospitals the user's institution may refer to, with their free slot count."""
    staff = staff_of(user)
    if staff is None or staff.institution is None:
        return Department.objects.none()
    peers = [pk for pk in institution_ids_for(user, Action.VIEW_INSTITUTION) if relation_to(staff, pk) == Relation.PEER]
    higher = [i.pk for i in Institution.objects.filter(pk__in=peers) if i.level_rank > staff.institution.level_rank]
    free = ReferralSlot.objects.filter(department=OuterRef("pk"), starts_at__gte=timezone.now()).filter(booked__lt=F("capacity"))
    return (
        Department.objects.filter(institution_id__in=higher, accepts_referrals=True, institution__is_active=True)
        .select_related("institution")
        .annotate(has_free_slots=Exists(free))
        .order_by("institution__code", "code")
    )


def open_slots(department_ids, now: datetime.datetime | None = None) -> QuerySet[ReferralSlot]:
    """Future slots with room left, for the given departments."""
    return (
        ReferralSlot.objects.filter(
            department_id__in=department_ids, starts_at__gte=now or timezone.now(), booked__lt=F("capacity")
        )
        .select_related("department")
        .order_by("starts_at", "pk")
    )


def slots_of(institution, now: datetime.datetime | None = None) -> QuerySet[ReferralSlot]:
    since = (now or timezone.now()) - datetime.timedelta(days=1)
    return ReferralSlot.objects.filter(department__institution=institution, starts_at__gte=since).select_related("department")


def follow_up_tasks_for(user, *, include_done: bool = False) -> QuerySet[FollowUpTask]:
    """Follow-up tasks of downward referrals received by institutions where the user records follow-ups."""
    queryset = scope(
        FollowUpTask.objects.select_related("referral__patient", "referral__from_institution", "referral__to_institution"),
        user,
        Action.RECORD_FOLLOW_UP,
        field="referral__to_institution",
    )
    if not include_done:
        queryset = queryset.filter(status=FollowUpStatus.OPEN)
    return queryset.order_by("due_on", "pk")


def overdue_follow_ups(today: datetime.date) -> QuerySet[FollowUpTask]:
    return FollowUpTask.objects.filter(status=FollowUpStatus.OPEN, due_on__lt=today, escalated_at__isnull=True)


def overdue_referral_ids(now: datetime.datetime) -> list[int]:
    return list(
        Referral.objects.filter(status__in=AWAITING_DECISION, due_at__lt=now).order_by("due_at").values_list("pk", flat=True)
    )


def notifications_for(user) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user).order_by("-created_at", "-pk")


def unread_notification_count(user) -> int:
    return Notification.objects.filter(recipient=user, is_read=False).count()


def satisfaction_summary(institution_ids=None) -> dict:
    """Average satisfaction and count per receiving institution, for the dashboard."""
    queryset = SatisfactionRating.objects.all()
    if institution_ids is not None:
        queryset = queryset.filter(referral__to_institution__in=institution_ids)
    rows = queryset.values("referral__to_institution__name").annotate(average=Avg("score"), count=Count("pk"))
    return {row["referral__to_institution__name"]: {"average": row["average"], "count": row["count"]} for row in rows}
