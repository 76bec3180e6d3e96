"""Reads of chronic care: which teams a user sees, the week's worklist, candidates, a team's panel.

A team's panel and worklist are open to its members and to staff who manage chronic care at the
team's institution (the township's public-health worker, the centre's doctors); a village doctor
sees their own team's only. Anything else is a 404 (``team_or_404``).
"""

import datetime
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from consortium.models import StaffRole
from consortium.permissions import Action, institution_ids_for, staff_of

from .models import (
    Contract,
    ContractStatus,
    Enrolment,
    EnrolmentStatus,
    FollowUp,
    FollowUpStatus,
    Programme,
    Team,
    TeamMember,
)


def _institution_condition(user, field: str) -> Q | None:
    """Institutions whose chronic care the user oversees; None means all (a superuser).

    Managers (``MANAGE_CHRONIC``) oversee their institutions; a consortium administrator and a member
    system's API client read (``VIEW_CHRONIC``) theirs; anyone else only through a team they are on.
    """
    managed = institution_ids_for(user, Action.MANAGE_CHRONIC)
    if managed is None:
        return None
    ids = set(managed)
    staff = staff_of(user)
    if staff is not None and (staff.pk is None or staff.role == StaffRole.CONSORTIUM_ADMINISTRATOR):
        ids |= institution_ids_for(user, Action.VIEW_CHRONIC)
    return Q(**{f"{field}__in": ids})


def _team_condition(user, field: str) -> Q:
    staff = staff_of(user)
    if staff is None or staff.pk is None:
        return Q(pk__in=[])
    return Q(**{field: staff})


def visible_teams(user) -> QuerySet[Team]:
    teams = Team.objects.filter(is_active=True).select_related("institution")
    condition = _institution_condition(user, "institution_id")
    if condition is None:
        return teams
    return teams.filter(pk__in=Team.objects.filter(condition | _team_condition(user, "members__staff")).values("pk"))


def team_or_404(user, team_id) -> Team:
    team = visible_teams(user).filter(pk=team_id).first()
    if team is None:
        raise Http404
    return team


def team_ids_of(staff) -> set[int]:
    """The teams the staff member is on."""
    if staff is None or staff.pk is None:
        return set()
    return set(TeamMember.objects.filter(staff=staff).values_list("team_id", flat=True))


def week_bounds(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """Monday and Sunday of ``today``'s week."""
    monday = today - datetime.timedelta(days=today.weekday())
    return monday, monday + datetime.timedelta(days=6)


@dataclass
class Worklist:
    """The week's sections as plain rows (``WORKLIST_ROW_FIELDS``), rendered by ``chronic_tables.follow_up_list``."""

    overdue: list[dict]
    due: list[dict]
    missed: list[dict]


WORKLIST_ROW_FIELDS = (
    "id", "due_on", "status", "enrolment__patient_id", "enrolment__patient__name", "enrolment__patient__village",
    "enrolment__programme__name",
    "enrolment__last_control",
)  # fmt: skip


def _rows(queryset: QuerySet) -> QuerySet:
    return queryset.values(*WORKLIST_ROW_FIELDS)


def worklist(team: Team, today: datetime.date | None = None, limit: int = 100) -> Worklist:
    """Who is overdue, due this week, and was missed this week, in the team's panel (up to ``limit`` each)."""
    today = today or timezone.localdate()
    monday, sunday = week_bounds(today)
    base = FollowUp.objects.filter(enrolment__team=team, enrolment__status=EnrolmentStatus.ENROLLED)
    due = base.filter(status=FollowUpStatus.DUE)
    monday_start = timezone.make_aware(datetime.datetime.combine(monday, datetime.time.min))
    return Worklist(
        overdue=list(_rows(due.filter(due_on__lt=today)).order_by("due_on", "pk")[:limit]),
        due=list(_rows(due.filter(due_on__gte=today, due_on__lte=sunday)).order_by("due_on", "pk")[:limit]),
        missed=list(
            _rows(base.filter(status=FollowUpStatus.MISSED, recorded_at__gte=monday_start)).order_by("-recorded_at", "pk")[:limit]
        ),
    )


def panel(team: Team) -> QuerySet[Enrolment]:
    return (
        Enrolment.objects.filter(team=team, status=EnrolmentStatus.ENROLLED)
        .select_related("patient", "programme")
        .order_by("next_due_on", "pk")
    )


def panel_counts(team: Team) -> dict:
    enrolled = Enrolment.objects.filter(team=team, status=EnrolmentStatus.ENROLLED)
    by_control = dict(enrolled.values_list("last_control").annotate(n=Count("pk")))
    contracts = Contract.objects.filter(team=team, status=ContractStatus.SIGNED, ends_on__gte=timezone.localdate())
    return {
        "enrolled": enrolled.count(),
        "controlled": by_control.get("controlled", 0),
        "uncontrolled": by_control.get("uncontrolled", 0),
        "danger": by_control.get("danger", 0),
        "contracts": contracts.count(),
    }


def candidates(user) -> QuerySet[Enrolment]:
    ids = institution_ids_for(user, Action.MANAGE_CHRONIC)
    rows = Enrolment.objects.filter(status=EnrolmentStatus.CANDIDATE).select_related(
        "patient", "programme", "institution", "source_encounter"
    )
    if ids is not None:
        rows = rows.filter(institution_id__in=ids)
    return rows.order_by("institution__code", "-found_at", "pk")


def enrolments_visible_to(user) -> QuerySet[Enrolment]:
    """Enrolments at institutions the user oversees, plus those of the teams the user is on."""
    rows = Enrolment.objects.select_related("patient", "programme", "institution", "team", "version")
    condition = _institution_condition(user, "institution_id")
    if condition is None:
        return rows
    return rows.filter(pk__in=Enrolment.objects.filter(condition | _team_condition(user, "team__members__staff")).values("pk"))


def follow_ups_visible_to(user) -> QuerySet[FollowUp]:
    return FollowUp.objects.filter(enrolment__in=enrolments_visible_to(user).values("pk")).select_related(
        "enrolment__patient", "enrolment__programme", "version", "encounter"
    )


def history(enrolment: Enrolment, limit: int = 12) -> list[FollowUp]:
    return list(
        enrolment.follow_ups.filter(status__in=[FollowUpStatus.DONE, FollowUpStatus.MISSED])
        .select_related("version")
        .order_by("-due_on", "-pk")[:limit]
    )


def programmes_for(user) -> QuerySet[Programme]:
    staff = staff_of(user)
    programmes = Programme.objects.select_related("consortium").prefetch_related("versions")
    if user.is_superuser:
        return programmes
    if staff is None or staff.consortium_id is None:
        return programmes.none()
    return programmes.filter(consortium_id=staff.consortium_id)


def contracts_of(team: Team) -> QuerySet[Contract]:
    return Contract.objects.filter(team=team).select_related("holder").prefetch_related("members").order_by("-starts_on", "pk")


def recent_measurements(enrolment: Enrolment, count: int = 3) -> list[FollowUp]:
    return list(enrolment.follow_ups.filter(status=FollowUpStatus.DONE).order_by("-done_on", "-pk")[:count])
