"""Who may read which patient's record, and the log of every read.

Identity is not authorization: matching an inbound visit to a patient links the records, it never
opens them.  A staff member reads a patient's *whole* consortium record when one of these holds,
checked in this order:

* own institution: the patient is registered at the staff member's institution (and the role may
  view patients there);
* an access grant of a workflow above records (:mod:`records.registry`): an active referral *to*
  the staff member's institution (the receiving end; a sender reads on its own basis, so referring
  a patient it has only seen opens nothing more), an open diagnostic order, a care team;
* consent: the patient's latest recorded consent allows consortium sharing, and the role may read
  shared records of the patient's home institution (a peer or supervised member) — read from the
  patient row on every call, so a withdrawal ends the access at once for everyone it granted;
* break-glass: an unexpired emergency access with a coded reason and a written one, notified to the
  home institution.

Failing all of these, an institution that recorded a visit of the patient itself reads *its own
visits* and the demographics it needs to treat the patient (name, sex, birth date, masked
identifiers): :attr:`AccessDecision.full` is false and :attr:`AccessDecision.visits_of` names the one
institution whose visits it may see.  Everything else is answered as if the patient did not exist
(404), so no existence leaks.
"""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from consortium.permissions import Action, can, institution_ids_for, staff_of
from consortium.request_info import client_ip, current_request, user_agent

from . import registry
from .models import AccessAction, AccessLog, AccessOutcome, AccessReason, BreakGlassAccess, Encounter, Patient

#: How long a break-glass access lasts unless settings.RECORDS_BREAK_GLASS_HOURS says otherwise.
DEFAULT_BREAK_GLASS_HOURS = 4


#: How long the home institution has to review a break-glass (settings.RECORDS_BREAK_GLASS_REVIEW_HOURS).
DEFAULT_BREAK_GLASS_REVIEW_HOURS = 72


def break_glass_duration() -> datetime.timedelta:
    return datetime.timedelta(hours=getattr(settings, "RECORDS_BREAK_GLASS_HOURS", DEFAULT_BREAK_GLASS_HOURS))


def break_glass_review_window() -> datetime.timedelta:
    return datetime.timedelta(hours=getattr(settings, "RECORDS_BREAK_GLASS_REVIEW_HOURS", DEFAULT_BREAK_GLASS_REVIEW_HOURS))


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    reason: AccessReason | None = None
    break_glass: BreakGlassAccess | None = None
    #: ``None`` for the whole record; otherwise the one institution whose own visits are visible.
    visits_of: int | None = None

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def full(self) -> bool:
        """Whether the whole consortium record is open (not only the reader's own visits)."""
        return self.allowed and self.visits_of is None


DENIED = AccessDecision(False)


def _is_superuser(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_superuser)


def active_break_glass(user, patient) -> BreakGlassAccess | None:
    if user is None or not user.pk:
        return None
    return (
        BreakGlassAccess.objects.filter(patient=patient, user=user, expires_at__gt=timezone.now()).order_by("-expires_at").first()
    )


def may_break_glass(user, patient) -> bool:
    """Break-glass is open to roles that read shared records of the patient's home institution."""
    return bool(user is not None and user.pk) and can(user, Action.VIEW_SHARED_RECORD, patient.home_institution_id)


def consents_now(patient: Patient) -> bool:
    """The consent as stored now, not as the caller's copy of the patient remembers it."""
    return Patient.objects.filter(pk=patient.pk, consents_to_sharing=True).exists()


def can_read_patient(user, patient: Patient) -> AccessDecision:
    if _is_superuser(user):
        return AccessDecision(True, AccessReason.ADMINISTRATOR)
    staff = staff_of(user)
    if staff is None or staff.institution_id is None:
        return DENIED
    own = staff.institution_id
    views_own = can(user, Action.VIEW_PATIENT, own)
    if views_own:
        if patient.home_institution_id == own:
            return AccessDecision(True, AccessReason.OWN_INSTITUTION)
        for grant in registry.access_grants():
            if Patient.objects.filter(pk=patient.pk).filter(grant.patients_for(own)).exists():
                return AccessDecision(True, grant.reason)
    if can(user, Action.VIEW_SHARED_RECORD, patient.home_institution_id) and consents_now(patient):
        return AccessDecision(True, AccessReason.CONSENT)
    grant = active_break_glass(user, patient)
    if grant is not None and may_break_glass(user, patient):
        return AccessDecision(True, AccessReason.BREAK_GLASS, grant)
    if views_own and Encounter.objects.filter(patient=patient, institution_id=own).exists():
        return AccessDecision(True, AccessReason.OWN_VISITS, visits_of=own)
    return DENIED


def readable_patients(user) -> QuerySet[Patient]:
    """Every patient the user may read now (the break-glass ones and those seen at the user's own
    institution included: a list shows demographics only), without duplicates."""
    if _is_superuser(user):
        return Patient.objects.all()
    staff = staff_of(user)
    if staff is None or staff.institution_id is None:
        return Patient.objects.none()
    own = staff.institution_id
    condition = Q(pk__in=[])
    if can(user, Action.VIEW_PATIENT, own):
        condition |= Q(home_institution_id=own)
        condition |= Q(pk__in=Encounter.objects.filter(institution_id=own).values("patient_id"))
        for grant in registry.access_grants():
            condition |= Q(pk__in=Patient.objects.filter(grant.patients_for(own)).values("pk"))
    shared_ids = institution_ids_for(user, Action.VIEW_SHARED_RECORD)
    if shared_ids:
        condition |= Q(consents_to_sharing=True, home_institution_id__in=shared_ids)
        if user.pk:
            condition |= Q(
                home_institution_id__in=shared_ids,
                pk__in=BreakGlassAccess.objects.filter(user=user, expires_at__gt=timezone.now()).values("patient_id"),
            )
    return Patient.objects.filter(condition)


def _entry(user, patient, path: str, reason, *, action=AccessAction.READ, outcome=AccessOutcome.ALLOWED, break_glass=None):
    staff = staff_of(user)
    api_client = getattr(user, "api_client", None)
    request = current_request()
    return AccessLog(
        patient=patient,
        user=user if (user is not None and user.pk and api_client is None) else None,
        api_client=api_client,
        institution_id=staff.institution_id if staff else None,
        path=path[:300],
        reason=reason,
        action=action,
        outcome=outcome,
        break_glass=break_glass,
        ip=client_ip(request)[:45] if request is not None else "",
        user_agent=user_agent(request) if request is not None else "",
    )


def log_patient_access(
    user, patient: Patient, path: str, reason: AccessReason | str, break_glass=None, action: AccessAction = AccessAction.READ
) -> AccessLog:
    """Record one read (or a print or an export: ``action``); ``path`` is the URL path or API route,
    never a query string with identifiers.

    The address and user agent come from the request being answered (``CurrentRequestMiddleware``).
    """
    entry = _entry(user, patient, path, reason, break_glass=break_glass, action=action)
    entry.save()
    return entry


def log_denied_access(user, patient: Patient, path: str) -> AccessLog:
    """A refused read of an existing patient (the caller still answers 404, as for a missing one)."""
    entry = _entry(user, patient, path, AccessReason.DENIED, outcome=AccessOutcome.DENIED)
    entry.save()
    return entry


def log_patient_list(user, patients, path: str, action: AccessAction = AccessAction.LIST) -> int:
    """A list or search answer: one entry per patient shown, written in one statement (a few queries
    in all decide each entry's reason, whatever the length of the list)."""
    patients = list(patients)
    if not patients:
        return 0
    reasons = _list_reasons(user, patients)
    AccessLog.objects.bulk_create(_entry(user, patient, path, reasons[patient.pk], action=action) for patient in patients)
    return len(patients)


def log_push_disclosures(disclosures) -> int:
    """Pushes delivered to member systems, one entry each: ``(patient id, receiving institution id,
    path, reason)``.  No person reads here: the entry names the receiving institution, the endpoint
    in ``path`` and the basis of the disclosure as its reason; written in one statement."""
    disclosures = list(disclosures)
    existing = set(Patient.objects.filter(pk__in={row[0] for row in disclosures}).values_list("pk", flat=True))
    entries = [
        AccessLog(
            patient_id=patient_id,
            institution_id=institution_id,
            path=path[:300],
            reason=reason or AccessReason.OWN_INSTITUTION,
            action=AccessAction.PUSH,
            outcome=AccessOutcome.ALLOWED,
        )
        for patient_id, institution_id, path, reason in disclosures
        if patient_id in existing
    ]
    AccessLog.objects.bulk_create(entries)
    return len(entries)


def _list_reasons(user, patients: list[Patient]) -> dict[int, str]:
    """The reason of :func:`can_read_patient` for each listed patient, in the same order of rules, set-based."""
    ids = [patient.pk for patient in patients]
    if _is_superuser(user):
        return dict.fromkeys(ids, AccessReason.ADMINISTRATOR)
    staff = staff_of(user)
    own = staff.institution_id if staff is not None else None
    views_own = own is not None and can(user, Action.VIEW_PATIENT, own)
    granted: dict[int, str] = {}
    if views_own:
        for grant in registry.access_grants():
            for pk in Patient.objects.filter(pk__in=ids).filter(grant.patients_for(own)).values_list("pk", flat=True):
                granted.setdefault(pk, grant.reason)
    shared = institution_ids_for(user, Action.VIEW_SHARED_RECORD) or frozenset()
    glass = set(
        BreakGlassAccess.objects.filter(user=user, patient_id__in=ids, expires_at__gt=timezone.now()).values_list(
            "patient_id", flat=True
        )
        if user is not None and user.pk
        else ()
    )
    visited = set(Encounter.objects.filter(patient_id__in=ids, institution_id=own).values_list("patient_id", flat=True))
    reasons = {}
    for patient in patients:
        if views_own and patient.home_institution_id == own:
            reasons[patient.pk] = AccessReason.OWN_INSTITUTION
        elif patient.pk in granted:
            reasons[patient.pk] = granted[patient.pk]
        elif patient.consents_to_sharing and patient.home_institution_id in shared:
            reasons[patient.pk] = AccessReason.CONSENT
        elif patient.pk in glass and patient.home_institution_id in shared:
            reasons[patient.pk] = AccessReason.BREAK_GLASS
        elif views_own and patient.pk in visited:
            reasons[patient.pk] = AccessReason.OWN_VISITS
        else:
            reasons[patient.pk] = AccessReason.DENIED  # not readable: never listed by readable_patients
    return reasons


def read_patient_or_404(user, patient_id, path: str, action: AccessAction = AccessAction.READ) -> tuple[Patient, AccessDecision]:
    """Fetch a patient the user may read and log the read (or print or export); anything else is a 404."""
    patient = Patient.objects.select_related("home_institution").filter(pk=patient_id).first()
    if patient is None:
        raise Http404
    decision = can_read_patient(user, patient)
    if not decision:
        log_denied_access(user, patient, path)
        raise Http404
    log_patient_access(user, patient, path, decision.reason, decision.break_glass, action=action)
    return patient, decision
