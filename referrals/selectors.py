"""Reads of referrals: queues, timelines, capacity, follow-ups, notifications."""

import datetime

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db.models import Avg, Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from consortium.models import Department, Institution, Membership, StaffRole
from consortium.permissions import Action, Relation, institution_ids_for, relation_to, scope, staff_of

from . import queue_cache
from .models import (
    ACTIVE,
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
    SlotSchedule,
)

_QUEUE_ROW = ("patient", "from_institution", "to_institution", "to_department")

#: What a referral table on a page shows, by its counterpart column: the sender of a received
#: referral ("from") or the receiver of a sent one ("to").  Rows are read as plain values with
#: only the joins they need: model instances for 50 rows and four tables were a large share of
#: the queue page's time.
TABLE_VALUES = {
    counterpart: (
        "id", "status", "urgency", "due_at", "appointment_at", "patient_id", "patient__name",
        f"{counterpart}_institution__name", "to_department__name",
    )
    for counterpart in ("from", "to")
}  # fmt: skip
#: What a row of the queue API carries (``api.QueueRowSerializer``).
API_QUEUE_VALUES = (
    "id", "direction", "status", "urgency", "submitted_at", "due_at", "appointment_at", "escalation_level",
    "patient_id", "patient__name", "from_institution__code", "to_institution__code", "to_department__code",
)  # fmt: skip


#: How long a process may reuse an institution's list of departments taking referrals (seconds).
DEPARTMENT_CHOICES_TTL = 60


def _department_choices_key(institution_id: int) -> str:
    return f"referrals:departments-taking-referrals:{institution_id}"


def departments_taking_referrals(institution_id: int) -> list[tuple[int, str]]:
    """``(id, name)`` of the institution's departments that take referrals, for the queue's filter.

    The filter is on the busiest page and departments change a few times a year, so the list is
    cached for a minute; saving or deleting a department drops it (``forget_department_choices``).
    """
    return cache.get_or_set(
        _department_choices_key(institution_id),
        lambda: list(
            Department.objects.filter(institution_id=institution_id, accepts_referrals=True)
            .order_by("code")
            .values_list("pk", "name")
        ),
        DEPARTMENT_CHOICES_TTL,
    )


def forget_department_choices(institution_id: int) -> None:
    cache.delete(_department_choices_key(institution_id))


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
) -> QuerySet[Referral]:
    """The coordinator's queue with its filters, by due time; ``status`` defaults to 'awaiting decision'."""
    queryset = Referral.objects.filter(to_institution=institution)
    queryset = queryset.filter(status=status) if status else queryset.filter(status__in=AWAITING_DECISION)
    if urgency:
        queryset = queryset.filter(urgency=urgency)
    if department_id:
        queryset = queryset.filter(to_department_id=department_id)
    if waiting in WAITING_HOURS:
        cutoff = (now or timezone.now()) - datetime.timedelta(hours=WAITING_HOURS[waiting])
        queryset = queryset.filter(submitted_at__lte=cutoff)
    return queryset.order_by("due_at", "pk")


def count_of(queryset: QuerySet) -> Subquery:
    """The number of rows of ``queryset``, as an expression another query can read along."""
    return Subquery(queryset.order_by().values(_all=Value(1)).annotate(n=Count("*")).values("n"))


class ReferralRows:
    """A referral queryset seen as rows of plain values, for a paginator.

    Counting runs on the plain queryset (without the joins the row values need), and a slice
    fetches only that page's rows; :meth:`window` reads a page and the total in one statement.
    With a ``count_key`` the total is kept in the cache under that key and read from there.
    """

    def __init__(self, queryset: QuerySet[Referral], values: tuple[str, ...], count_key: str | None = None):
        self.queryset = queryset
        self.values = values
        self.ordered = queryset.ordered
        self.count_key = count_key

    def _cached_count(self) -> int | None:
        return None if self.count_key is None else cache.get(self.count_key)

    def _keep_count(self, total: int) -> None:
        if self.count_key is not None:
            cache.set(self.count_key, total, queue_cache.COUNT_TTL)

    def count(self) -> int:
        total = self._cached_count()
        if total is None:
            total = self.queryset.count()
            self._keep_count(total)
        return total

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, item):
        if isinstance(item, slice):
            return list(self.queryset[item].values(*self.values))
        return self.queryset.values(*self.values)[item]

    def __iter__(self):
        return iter(self.queryset.values(*self.values))

    def window(self, start: int, stop: int) -> tuple[list[dict], int | None]:
        """The rows ``[start:stop]`` and the number of all rows, counted in the same statement unless cached.

        The total is ``None`` when the window is empty (it lies past the end): count then.
        """
        total = self._cached_count()
        if total is not None:
            return self[start:stop], total
        counted = count_of(self.queryset)
        rows = list(self.queryset.annotate(_total=counted).values(*self.values, "_total")[start:stop])
        if not rows:
            return rows, None
        total = rows[0]["_total"]
        for row in rows:
            del row["_total"]
        self._keep_count(total)
        return rows, total


class ReferralRowsPaginator(Paginator):
    """Django's paginator over :class:`ReferralRows`, reading a page with its total in one statement.

    Django's ``get_page`` counts first and then reads the page: on the busiest pages that second
    database round trip is a good share of the time.  A page past the end takes Django's path.
    """

    def get_page(self, number):
        try:
            wanted = 1 if number is None else int(number)
        except (TypeError, ValueError):
            wanted = 1  # as Django: a page that is not a number shows the first
        if wanted >= 1 and "count" not in self.__dict__:
            bottom = (wanted - 1) * self.per_page
            rows, total = self.object_list.window(bottom, bottom + self.per_page + self.orphans)
            if rows:
                self.__dict__["count"] = total  # the cached_property Paginator.count
                top = bottom + self.per_page
                if top + self.orphans >= total:
                    top = total
                return self._get_page(rows[: top - bottom], wanted, self)
        return super().get_page(number)


def queue_rows(
    institution,
    values: tuple[str, ...],
    *,
    urgency: str = "",
    department_id: int | None = None,
    status: str = "",
    waiting: str = "",
) -> ReferralRows:
    """The coordinator's filtered queue (``filtered_queue``) as rows, its totals cached per queue version.

    A waiting-time filter moves with the clock, so that total is always counted.
    """
    queryset = filtered_queue(institution, urgency=urgency, department_id=department_id, status=status, waiting=waiting)
    count_key = None if waiting else queue_cache.total_key(institution, f"{urgency}:{department_id or ''}:{status}")
    return ReferralRows(queryset, values, count_key)


def table_rows(queryset: QuerySet[Referral], counterpart: str) -> ReferralRows:
    """Rows for a referral table on a page (see ``TABLE_VALUES``)."""
    return ReferralRows(queryset, TABLE_VALUES[counterpart])


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


def with_details(queryset: QuerySet[Referral]) -> QuerySet[Referral]:
    """Referrals with what their detail view shows: parties, slot, attachments, timeline, follow-ups."""
    return queryset.select_related("patient", "from_institution", "to_institution", "to_department", "slot").prefetch_related(
        "attachments", "events__actor", "follow_up_tasks"
    )


def referral_timeline(referral: Referral):
    return referral.events.select_related("actor__staff").order_by("occurred_at", "pk")


#: A referral in one of these statuses entitles the patient to the referred-visit insurance rules.
ENTITLING = frozenset({ReferralStatus.ACCEPTED, ReferralStatus.ARRIVED, ReferralStatus.IN_TREATMENT, ReferralStatus.COMPLETED})


def has_valid_referral(patient, to_institution, on: datetime.datetime, *, from_institution=None) -> bool:
    """Whether a visit of ``patient`` at ``to_institution`` at time ``on`` came through an upward referral.

    Used by the insurance calculator: a referred patient keeps the normal ratio and the
    deductible already paid at the lower level.  The referral must have been submitted
    before the visit and accepted (or gone further); a rejected, redirected, cancelled or
    expired referral does not count.  ``from_institution`` limits the answer to referrals sent
    from there (what a referring institution may learn: its own referrals only).
    """
    referrals = Referral.objects.filter(
        patient=patient,
        to_institution=to_institution,
        direction=Direction.UP,
        status__in=ENTITLING,
        submitted_at__lte=on,
    )
    if from_institution is not None:
        referrals = referrals.filter(from_institution=from_institution)
    return referrals.exists()


def entitling_referral(patient, to_institution, on: datetime.datetime) -> Referral | None:
    """The latest referral that makes a visit at ``to_institution`` at ``on`` a referred one (see above), or None."""
    return (
        Referral.objects.select_related("from_institution")
        .filter(
            patient=patient, to_institution=to_institution, direction=Direction.UP, status__in=ENTITLING, submitted_at__lte=on
        )
        .order_by("-submitted_at", "-pk")
        .first()
    )


def due_time_policy_for(from_institution_id: int, to_institution_id: int) -> ReferralDueTimePolicy:
    """The due-time policy of a consortium both institutions actively belong to, or the defaults."""
    receiver = Membership.objects.co_members_of(from_institution_id).filter(institution_id=to_institution_id)
    shared = receiver.values("consortium_id")
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
    visible = institution_ids_for(user, Action.VIEW_INSTITUTION)  # None: a superuser sees every institution
    candidates = Institution.objects.all() if visible is None else Institution.objects.filter(pk__in=visible)
    higher = [
        institution.pk
        for institution in candidates
        if institution.level_rank > staff.institution.level_rank and relation_to(staff, institution.pk) == Relation.PEER
    ]
    return (
        Department.objects.filter(institution_id__in=higher, accepts_referrals=True, institution__is_active=True)
        .select_related("institution")
        .annotate(free_places=free_places())
        .order_by("institution__code", "code")
    )


def _open(now: datetime.datetime | None = None) -> Q:
    """A slot still to come with room left."""
    return Q(starts_at__gte=now or timezone.now(), booked__lt=F("capacity"))


def open_slots(department_ids, now: datetime.datetime | None = None) -> QuerySet[ReferralSlot]:
    """Future slots with room left, for the given departments."""
    return (
        ReferralSlot.objects.filter(_open(now), department_id__in=department_ids)
        .select_related("department")
        .order_by("starts_at", "pk")
    )


def free_places() -> Coalesce:
    """Open places over a department's future slots, as an expression over departments."""
    places = (
        ReferralSlot.objects.filter(_open(), department=OuterRef("pk"))
        .values("department")
        .annotate(total=Sum(F("capacity") - F("booked")))
        .values("total")
    )
    return Coalesce(Subquery(places, output_field=IntegerField()), 0)


def slots_of(institution, now: datetime.datetime | None = None) -> QuerySet[ReferralSlot]:
    since = (now or timezone.now()) - datetime.timedelta(days=1)
    return ReferralSlot.objects.filter(department__institution=institution, starts_at__gte=since).select_related("department")


def schedules_of(institution) -> QuerySet[SlotSchedule]:
    """The weekly slot schedule of the institution's departments, by department, day and time."""
    return (
        SlotSchedule.objects.filter(department__institution=institution)
        .select_related("department")
        .annotate(open_slots=Count("slots", filter=Q(slots__starts_at__gt=timezone.now())))
        .order_by("department__name", "weekday", "starts_at", "pk")
    )


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


def unread_notifications_of(user_ref) -> Subquery:
    """The number of a user's unread notifications, as an expression to read along with the user."""
    return count_of(Notification.objects.filter(recipient=user_ref, is_read=False))


#: The attribute ``config.auth_backends.StaffModelBackend`` reads the count into, with the user.
UNREAD_ON_USER = "unread_notification_count"


def unread_notification_count(user) -> int:
    """The user's unread notifications; the count read with the user at the start of the request, if it was."""
    preloaded = getattr(user, UNREAD_ON_USER, None)
    if preloaded is not None:
        return preloaded
    return Notification.objects.filter(recipient=user, is_read=False).count()


def satisfaction_summary(institution_ids=None) -> dict:
    """Average satisfaction and count per receiving institution, for the dashboard."""
    queryset = SatisfactionRating.objects.all()
    if institution_ids is not None:
        queryset = queryset.filter(referral__to_institution__in=institution_ids)
    rows = queryset.values("referral__to_institution__name").annotate(average=Avg("score"), count=Count("pk"))
    return {row["referral__to_institution__name"]: {"average": row["average"], "count": row["count"]} for row in rows}


def patients_with_active_referral_q(institution_id: int) -> Q:
    """A filter on Patient: an active referral of the patient runs *to* ``institution_id``.

    The referral opens the record to the receiving end only, which takes the patient over.  The
    sending end reads what it read before it referred, on its own basis (home institution, consent,
    or only its own visits), and follows the referral itself on the referral's pages: a clinic that
    has only seen the patient gains nothing of the rest of the record by referring.
    """
    return Q(referrals__status__in=ACTIVE, referrals__to_institution_id=institution_id)


# --- worklists of the home pages -------------------------------------------------------------------


def _local_day_bounds(day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
    return start, start + datetime.timedelta(days=1)


def incoming_referrals(institution, limit: int = 20) -> QuerySet[Referral]:
    """Referrals sent to the institution that wait for it: decisions to take, patients coming (the clinic's inbox)."""
    waiting = AWAITING_DECISION | {ReferralStatus.ACCEPTED}
    return (
        Referral.objects.filter(to_institution=institution, status__in=waiting)
        .select_related(*_QUEUE_ROW)
        .order_by("due_at", "pk")[:limit]
    )


def follow_ups_due(institution, today: datetime.date | None = None, limit: int = 50) -> dict[str, list]:
    """The institution's open follow-up tasks: ``overdue`` (before today) and ``today``."""
    today = today or timezone.localdate()
    tasks = (
        FollowUpTask.objects.filter(referral__to_institution=institution, status=FollowUpStatus.OPEN, due_on__lte=today)
        .select_related("referral__patient")
        .order_by("due_on", "pk")[:limit]
    )
    rows = list(tasks)
    return {"overdue": [t for t in rows if t.due_on < today], "today": [t for t in rows if t.due_on == today]}


def expected_arrivals(institution, day: datetime.date | None = None) -> QuerySet[Referral]:
    """Accepted referrals whose appointment is on ``day`` (today by default) and whose patient has not arrived."""
    start, end = _local_day_bounds(day or timezone.localdate())
    return (
        Referral.objects.filter(
            to_institution=institution,
            status=ReferralStatus.ACCEPTED,
            appointment_at__gte=start,
            appointment_at__lt=end,
        )
        .select_related(*_QUEUE_ROW)
        .order_by("appointment_at", "pk")
    )


def overdue_decisions(institution, now: datetime.datetime | None = None) -> QuerySet[Referral]:
    """Referrals waiting for the institution's decision past their due time."""
    return referral_queue(institution).filter(due_at__lt=now or timezone.now())


def hospital_stay_entries(user, patient) -> list:
    """The patient's hospital stays ended by a discharge back to a clinic, for the shared timeline.

    Registered with :func:`records.registry.register_timeline_source`; only referrals the viewer may
    open are shown.
    """
    from django.urls import reverse
    from django.utils.translation import gettext as _

    from records.registry import TimelineEntry

    entries = []
    downward = (
        referrals_visible_to(user)
        .filter(patient=patient, direction=Direction.DOWN)
        .exclude(discharge_data={})
        .select_related("from_department")
        .order_by("-created_at")[:20]
    )
    for referral in downward:
        data = referral.discharge_data
        diagnoses = "、".join(f"{d['code']} {d['description']}" for d in data.get("diagnoses", []))
        place = referral.from_institution.name
        if referral.from_department:
            place = f"{place} · {referral.from_department.name}"
        entries.append(
            TimelineEntry(
                at=referral.created_at,
                title=_("Hospital stay: %(place)s, %(admitted)s – %(discharged)s")
                % {"place": place, "admitted": data.get("admitted_on") or "—", "discharged": data.get("discharged_on", "")},
                institution=referral.from_institution.name,
                summary=_("Discharge diagnoses: %(diagnoses)s") % {"diagnoses": diagnoses} if diagnoses else "",
                link=reverse("referrals:detail", args=[referral.pk]),
            )
        )
    return entries
