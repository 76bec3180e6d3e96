"""Telling a patient's home institution what other members did with its patient.

Matching an inbound visit (an HIS batch, a FHIR import, a clerk's upload, a visit form) to a
patient links the visit to the record; it does not open the record (:mod:`records.access`), but the
home clinic must learn of it.  :func:`note_visits_elsewhere` is set-based so that the batch path
calls it once per chunk: for each (patient, recording institution) pair whose patient is registered
elsewhere it adds the visits to the pair's open notice, or opens one.  Rows are written in the
caller's transaction, so a rolled-back batch notifies no one.
"""

from collections import Counter
from collections.abc import Iterable

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from consortium.models import Membership, Staff, StaffRole
from consortium.permissions import Action, Relation, roles_with

from . import registry
from .models import HomeNotice, NoticeKind, Patient


def note_visits_elsewhere(pairs: Iterable[tuple[int, int]]) -> int:
    """``pairs``: one ``(patient_id, institution_id)`` per recorded visit; returns the notices touched."""
    counts = Counter(pairs)
    if not counts:
        return 0
    ids = list({patient_id for patient_id, _ in counts})
    if connection.vendor == "postgresql":  # one array parameter for a batch's thousands of patients
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id, home_institution_id FROM {Patient._meta.db_table} WHERE id = ANY(%s)", [ids])  # noqa: S608
            homes = dict(cursor.fetchall())
    else:
        homes = dict(Patient.objects.filter(pk__in=ids).values_list("pk", "home_institution_id"))
    elsewhere = {
        (patient_id, institution_id): visits
        for (patient_id, institution_id), visits in counts.items()
        if homes.get(patient_id) not in (None, institution_id)
    }
    if not elsewhere:
        return 0
    now = timezone.now()
    open_notices = {
        (notice.patient_id, notice.from_institution_id): notice.pk
        for notice in HomeNotice.objects.filter(
            kind=NoticeKind.VISIT_ELSEWHERE,
            acknowledged_at__isnull=True,
            patient_id__in={patient_id for patient_id, _ in elsewhere},
        ).only("pk", "patient_id", "from_institution_id")
    }
    fresh = []
    for (patient_id, institution_id), visits in elsewhere.items():
        pk = open_notices.get((patient_id, institution_id))
        if pk is not None:
            HomeNotice.objects.filter(pk=pk).update(visits=F("visits") + visits, updated_at=now)
        else:
            fresh.append(
                HomeNotice(
                    institution_id=homes[patient_id],
                    patient_id=patient_id,
                    kind=NoticeKind.VISIT_ELSEWHERE,
                    from_institution_id=institution_id,
                    visits=visits,
                    created_at=now,
                    updated_at=now,
                )
            )
    HomeNotice.objects.bulk_create(fresh)
    return len(elsewhere)


def break_glass_recipients(grant) -> tuple[list, list]:
    """Who hears of a break-glass at once: the home institution's staff who review its access log,
    and the privacy officers of every consortium the home institution is an active member of."""
    home = grant.patient.home_institution_id
    reviewers = roles_with(Action.VIEW_ACCESS_LOG, Relation.OWN)
    home_staff = Staff.objects.filter(institution_id=home, role__in=reviewers, user__is_active=True).select_related("user")
    consortia = Membership.objects.active().filter(institution_id=home).values("consortium_id")
    officers = Staff.objects.filter(role=StaffRole.PRIVACY_OFFICER, consortium_id__in=consortia, user__is_active=True)
    return [member.user for member in home_staff], [member.user for member in officers.select_related("user")]


def _break_glass_text(grant) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        staff = getattr(grant.user, "staff", None)
        return _(
            "Break-glass: %(who)s (%(institution)s) opened the record of a patient of %(home)s (%(reason)s). "
            "The home institution reviews it by %(due)s."
        ) % {
            "who": staff.display_name if staff else grant.user.get_username(),
            "institution": grant.institution.name,
            "home": grant.patient.home_institution.name,
            "reason": grant.get_reason_code_display(),
            "due": timezone.localtime(grant.review_due_at).strftime("%Y-%m-%d %H:%M"),
        }


def note_break_glass(grant) -> HomeNotice:
    """The home clinic's notice, and a notification at once to its reviewers and the privacy officers
    (rows in the caller's transaction; e-mail after it commits)."""
    now = timezone.now()
    home_staff, officers = break_glass_recipients(grant)
    text = _break_glass_text(grant)
    registry.notify_users(home_staff, text, reverse("records:index-queue"))
    registry.notify_users(officers, text, reverse("records:break-glass-oversight"))
    return HomeNotice.objects.create(
        institution_id=grant.patient.home_institution_id,
        patient_id=grant.patient_id,
        kind=NoticeKind.BREAK_GLASS,
        from_institution_id=grant.institution_id,
        break_glass=grant,
        created_at=now,
        updated_at=now,
    )


def note_unjustified_break_glass(grant) -> int:
    """The home institution found a break-glass not justified: the privacy officers hear of it at once."""
    _home_staff, officers = break_glass_recipients(grant)
    with translation.override(settings.LANGUAGE_CODE):
        text = _("Break-glass found NOT justified by %(home)s: access by %(institution)s on %(day)s.") % {
            "home": grant.patient.home_institution.name,
            "institution": grant.institution.name,
            "day": timezone.localtime(grant.started_at).strftime("%Y-%m-%d %H:%M"),
        }
    return registry.notify_users(officers, text, reverse("records:break-glass-oversight"))
