"""Four eyes on machine access: who may change an institution's API tokens and push endpoints, and how.

* The institution's own administrator (``Action.MANAGE_MACHINE_ACCESS``) changes them directly.
* A consortium administrator (``Action.REQUEST_MACHINE_ACCESS``) only files a request; the change is
  carried out when a *second* person with the right approves it (never the requester), in the same
  transaction as the approval, so an approved request and its change are never apart.
* An insurance office has no administrator on the platform: its tokens are requested by a consortium
  administrator whose consortium lies in the office's region and approved by a second one.
* A superuser is no institution's administrator by being one: like a consortium administrator, a
  superuser files a request (for any institution or office) that a second person approves, and
  approves another's.  Only a superuser who is also, by a staff record, the institution's own
  administrator changes that institution's access directly.  The Django admin shows tokens and
  requests read-only, to superusers too.
* A secret the change makes (an API token, an endpoint's signing secret) is shown once, to the person
  who asked for the change: on the answer page of a direct change; for an approved request, it is
  sealed on the request (AES-GCM, ``consortium.crypto``) until its requester collects it once from
  the machine-access page, then emptied.  The approver carries the change out and never sees it, so
  the second pair of eyes does not become a second holder of the credential.

Each kind of change has an executor: the kernel's token changes (``consortium.tokens``) and sync's
endpoint changes register theirs in ``AppConfig.ready`` (:func:`register_change`), so the kernel never
imports the floor above it.  An executor validates the inputs when the request is filed (a bad URL is
refused at once, naming the field) and again when it carries the change out.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .audit import ConsortiumAudit
from .errors import Conflict, IllegalTransition, Invalid, NotFound, NotPermitted
from .models import InsuranceOffice, MachineAccessKind, MachineAccessRequest, MachineAccessStatus, StaffRole
from .permissions import SYSTEM, Action, can, granted_by_role, staff_of
from .services import record_audit_event

#: The request's state machine: a pending request is approved (and carried out), rejected or withdrawn.
REQUEST_TRANSITIONS: dict[str, frozenset[str]] = {
    MachineAccessStatus.PENDING: frozenset(
        {MachineAccessStatus.APPROVED, MachineAccessStatus.REJECTED, MachineAccessStatus.WITHDRAWN}
    ),
    MachineAccessStatus.APPROVED: frozenset(),
    MachineAccessStatus.REJECTED: frozenset(),
    MachineAccessStatus.WITHDRAWN: frozenset(),
}


def advance_request(request: MachineAccessRequest, to: str) -> None:
    if to not in REQUEST_TRANSITIONS[request.status]:
        raise IllegalTransition(
            _("A request that is %(current)s cannot become %(target)s.")
            % {"current": request.get_status_display(), "target": MachineAccessStatus(to).label}
        )
    request.status = to


@dataclass
class Outcome:
    """What a carried-out change shows once: the object, and a token or secret when one was made."""

    obj: object
    secret: str = ""
    secret_label: str = ""
    detail: dict = field(default_factory=dict)
    #: The change made a secret that waits, sealed, for the requester (the approver's outcome).
    sealed_for_requester: bool = False


@dataclass(frozen=True)
class Change:
    #: ``validate(request) -> payload``: check the inputs at filing time; raise ``Invalid`` naming the field.
    validate: Callable
    #: ``execute(request, actor, detail) -> Outcome``: carry the change out as ``actor`` (the approver).
    execute: Callable


_changes: dict[str, Change] = {}


def register_change(kind: str, *, validate: Callable, execute: Callable) -> None:
    _changes[kind] = Change(validate=validate, execute=execute)


def _change(kind: str) -> Change:
    if kind not in _changes:
        raise Invalid(_("Unknown kind of change."), field="kind")
    return _changes[kind]


# --- who may ----------------------------------------------------------------------------------


def may_manage(actor, *, institution=None, insurance_office=None) -> bool:
    """Whether ``actor`` changes the owner's machine access directly (its own administrator)."""
    if actor is SYSTEM:
        return True
    if actor is None or not getattr(actor, "is_authenticated", False):
        return False
    if institution is not None:
        return granted_by_role(actor, Action.MANAGE_MACHINE_ACCESS, institution)
    return False  # an insurance office has no administrator on the platform


def may_request(actor, *, institution=None, insurance_office=None) -> bool:
    """Whether ``actor`` may file (and, for another's request, approve) a change of the owner's access."""
    if actor is None or actor is SYSTEM or not getattr(actor, "is_authenticated", False):
        return False
    if actor.is_superuser:
        return True
    if institution is not None:
        return can(actor, Action.REQUEST_MACHINE_ACCESS, institution)
    staff = staff_of(actor)
    if staff is None or staff.role != StaffRole.CONSORTIUM_ADMINISTRATOR or staff.consortium is None:
        return False
    office = (
        insurance_office if isinstance(insurance_office, InsuranceOffice) else InsuranceOffice.objects.get(pk=insurance_office)
    )
    return office.covers_region(staff.consortium.region_code)


def require_manage(actor, *, institution=None, insurance_office=None) -> None:
    """Refuse unless ``actor`` may change directly; a requester is told to file a request instead."""
    if may_manage(actor, institution=institution, insurance_office=insurance_office):
        return
    if may_request(actor, institution=institution, insurance_office=insurance_office):
        raise NotPermitted(
            _("A consortium administrator's change to machine access needs a second administrator's approval: file a request."),
            code="approval_required",
        )
    raise NotPermitted


def _owner(request: MachineAccessRequest) -> dict:
    return {"institution": request.institution, "insurance_office": request.insurance_office}


# --- services ---------------------------------------------------------------------------------


def request_machine_access(
    *,
    actor,
    kind: str,
    reason: str,
    institution=None,
    insurance_office=None,
    api_client=None,
    endpoint_id: int | None = None,
    payload: dict | None = None,
) -> MachineAccessRequest:
    """File a change for a second administrator to approve; its inputs are checked now."""
    if institution is None and insurance_office is None:
        raise NotPermitted
    if not may_request(actor, institution=institution, insurance_office=insurance_office):
        raise NotPermitted
    if kind not in MachineAccessKind.values:
        raise Invalid(_("Unknown kind of change."), field="kind")
    if len((reason or "").strip()) < 2:
        raise Invalid(_("Say why this change is needed."), field="reason")
    with transaction.atomic():
        request = MachineAccessRequest(
            kind=kind,
            institution=institution,
            insurance_office=insurance_office,
            api_client=api_client,
            endpoint_id=endpoint_id,
            payload=dict(payload or {}),
            reason=reason.strip(),
            requested_by=actor,
        )
        request.payload = _change(kind).validate(request)
        request.save()
        record_audit_event(
            actor=actor,
            action=ConsortiumAudit.MACHINE_ACCESS_REQUESTED,
            obj=request,
            institution=institution,
            detail={"kind": kind, "insurance_office": getattr(insurance_office, "pk", None)},
        )
    return request


def _locked(request: MachineAccessRequest) -> MachineAccessRequest:
    try:
        return (
            MachineAccessRequest.objects.select_for_update(of=("self",))
            .select_related("institution", "insurance_office")
            .get(pk=request.pk)
        )
    except MachineAccessRequest.DoesNotExist:
        raise NotFound from None


def approve_machine_access(*, actor, request: MachineAccessRequest, note: str = "") -> Outcome:
    """A second person approves: the change is carried out in the same transaction (or nothing is)."""
    with transaction.atomic():
        request = _locked(request)
        if not may_request(actor, **_owner(request)) and not may_manage(actor, **_owner(request)):
            raise NotPermitted
        if actor is SYSTEM or request.requested_by_id == actor.pk:
            raise NotPermitted(_("A request is approved by a second person, not by the one who filed it."), code="same_person")
        advance_request(request, MachineAccessStatus.APPROVED)
        request.decided_by = actor
        request.decided_at = timezone.now()
        request.decision_note = (note or "").strip()
        detail = {"request": request.pk, "requested_by": request.requested_by_id, "approved_by": actor.pk}
        outcome = _change(request.kind).execute(request, actor, detail)
        if request.kind == MachineAccessKind.TOKEN_CREATE:
            request.api_client = outcome.obj
        elif request.kind == MachineAccessKind.ENDPOINT_REGISTER:
            request.endpoint_id = outcome.obj.pk
        request.sealed_secret = outcome.secret  # for the requester alone; the approver's answer has none
        request.save()
        record_audit_event(
            actor=actor,
            action=ConsortiumAudit.MACHINE_ACCESS_APPROVED,
            obj=request,
            institution=request.institution,
            detail={"kind": request.kind, "requested_by": request.requested_by_id, "secret_sealed": bool(outcome.secret)},
        )
    return Outcome(
        outcome.obj, secret_label=outcome.secret_label, detail=outcome.detail, sealed_for_requester=bool(outcome.secret)
    )


#: What the secret a kind of change makes is called, on the page that shows it.
SECRET_LABELS = {
    MachineAccessKind.TOKEN_CREATE: gettext_lazy("API token"),
    MachineAccessKind.TOKEN_ROTATE: gettext_lazy("API token"),
    MachineAccessKind.ENDPOINT_REGISTER: gettext_lazy("Signing secret"),
}


def collect_machine_access_secret(*, actor, request: MachineAccessRequest) -> Outcome:
    """The requester takes the secret an approved change made: shown this once, then emptied."""
    with transaction.atomic():
        request = _locked(request)
        if actor is SYSTEM or actor is None or request.requested_by_id != getattr(actor, "pk", None):
            raise NotPermitted(_("Only the person who filed the request collects its secret."), code="not_requester")
        if not may_request(actor, **_owner(request)) and not may_manage(actor, **_owner(request)):
            raise NotPermitted
        if request.status != MachineAccessStatus.APPROVED or not request.sealed_secret:
            raise Conflict(_("This request has no secret to collect: a secret is shown only once."), code="collected")
        secret = request.sealed_secret
        request.sealed_secret = ""
        request.secret_collected_at = timezone.now()
        request.save(update_fields=["sealed_secret", "secret_collected_at"])
        record_audit_event(
            actor=actor,
            action=ConsortiumAudit.MACHINE_ACCESS_SECRET_COLLECTED,
            obj=request,
            institution=request.institution,
            detail={"kind": request.kind, "approved_by": request.decided_by_id},
        )
    return Outcome(request.api_client or request, secret=secret, secret_label=str(SECRET_LABELS.get(request.kind, "")))


def reject_machine_access(*, actor, request: MachineAccessRequest, note: str = "") -> MachineAccessRequest:
    """Another administrator rejects a request, or its requester withdraws it; nothing is changed."""
    with transaction.atomic():
        request = _locked(request)
        own = actor is not SYSTEM and actor is not None and request.requested_by_id == getattr(actor, "pk", None)
        if not own and not may_request(actor, **_owner(request)) and not may_manage(actor, **_owner(request)):
            raise NotPermitted
        target = MachineAccessStatus.WITHDRAWN if own else MachineAccessStatus.REJECTED
        if target == MachineAccessStatus.REJECTED and not (note or "").strip():
            raise Invalid(_("Say why the request is rejected."), field="note")
        advance_request(request, target)
        request.decided_by = actor
        request.decided_at = timezone.now()
        request.decision_note = (note or "").strip()
        request.save()
        record_audit_event(
            actor=actor,
            action=ConsortiumAudit.MACHINE_ACCESS_WITHDRAWN if own else ConsortiumAudit.MACHINE_ACCESS_REJECTED,
            obj=request,
            institution=request.institution,
            detail={"kind": request.kind},
        )
    return request
