"""Sync endpoints: a hospital registers where its events go (URL, events, signing secret), changes and deactivates it.

Who may: the hospital's own administrator directly; a consortium administrator only through a
request a second administrator approves (``consortium.approvals``; sync registers the endpoint
changes there in ``SyncConfig.ready``).  A member system's token cannot change endpoints.

The URL is checked here (``destinations.check_url``: https, a host resolving to public addresses
only) and again before every POST.  Deactivating cancels the endpoint's pending deliveries in the
same transaction; a worker holding a lease on one of them finds the endpoint inactive before its
next POST and sends nothing more (``sending.send_round``).
"""

import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from consortium import approvals
from consortium.errors import Conflict, Invalid, NotFound
from consortium.models import Institution, MachineAccessKind
from consortium.services import record_audit_event

from .audit import SyncAudit
from .destinations import check_url
from .models import ENDPOINT_EVENTS, Delivery, DeliveryStatus, Endpoint


def _validate_events(events) -> list[str]:
    if not isinstance(events, list | tuple) or not events:
        raise Invalid(_("Choose at least one event."), field="events")
    unknown = [event for event in events if event not in ENDPOINT_EVENTS]
    if unknown:
        raise Invalid(
            _("Unknown events: %(events)s. Choose from %(allowed)s.")
            % {"events": ", ".join(map(str, unknown)), "allowed": ", ".join(ENDPOINT_EVENTS)},
            field="events",
        )
    return sorted(set(events))


def _validate_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise Invalid(_("Give the endpoint a name."), field="name")
    if len(name.strip()) > 100:
        raise Invalid(_("A name has at most 100 characters."), field="name")
    return name.strip()


def _validate_url(url) -> str:
    if not isinstance(url, str) or len(url) > 500:
        raise Invalid(_("Enter an https URL of at most 500 characters."), field="url")
    check_url(url)
    return url


def _validate_new(*, institution: Institution, name, url, events) -> dict:
    if not institution.is_hospital:
        raise Invalid(_("Only county and city hospitals register sync endpoints."), field="institution")
    return {"name": _validate_name(name), "url": _validate_url(url), "events": _validate_events(events)}


def _register(*, actor, institution: Institution, name, url, events, secret: str = "", detail: dict | None = None) -> Endpoint:
    data = _validate_new(institution=institution, name=name, url=url, events=events)
    if secret and len(secret) < 16:
        raise Invalid(_("A signing secret needs at least 16 characters."), field="secret")
    Institution.objects.select_for_update().filter(pk=institution.pk).first()
    if Endpoint.objects.filter(institution=institution, url=data["url"]).exists():
        raise Invalid(_("This institution already has an endpoint with this URL."), field="url")
    endpoint = Endpoint.objects.create(institution=institution, secret=secret or secrets.token_urlsafe(32), **data)
    record_audit_event(
        actor=actor,
        action=SyncAudit.ENDPOINT_REGISTERED,
        obj=endpoint,
        institution=institution,
        detail={"events": data["events"], **(detail or {})},
    )
    return endpoint


def _locked(endpoint: Endpoint) -> Endpoint:
    try:
        return Endpoint.objects.select_for_update(of=("self",)).select_related("institution").get(pk=endpoint.pk)
    except Endpoint.DoesNotExist:
        raise NotFound from None


def _change(endpoint: Endpoint, *, actor, changes: dict, detail: dict | None = None) -> Endpoint:
    endpoint = _locked(endpoint)
    if not endpoint.is_active:
        raise Conflict(_("This endpoint is deactivated; register a new one."), code="inactive")
    data = _validate_changes(changes)
    if (
        "url" in data
        and Endpoint.objects.filter(institution=endpoint.institution, url=data["url"]).exclude(pk=endpoint.pk).exists()
    ):
        raise Invalid(_("This institution already has an endpoint with this URL."), field="url")
    changed = sorted(key for key, value in data.items() if getattr(endpoint, key) != value)
    for key in changed:
        setattr(endpoint, key, data[key])
    endpoint.save(update_fields=changed or None)
    if "url" in changed:
        # A worker's lease on the old URL is of no use now: its next POST finds the URL changed.
        Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).update(lease_until=None, lease_token=None)
    record_audit_event(
        actor=actor,
        action=SyncAudit.ENDPOINT_CHANGED,
        obj=endpoint,
        institution=endpoint.institution,
        detail={"changed": changed, **(detail or {})},
    )
    return endpoint


def _validate_changes(changes: dict) -> dict:
    unknown = set(changes) - {"name", "url", "events"}
    if unknown:
        raise Invalid(_("Only the name, URL and events of an endpoint can be changed."), field=sorted(unknown)[0])
    if not changes:
        raise Invalid(_("Nothing to change."), field="name")
    validators = {"name": _validate_name, "url": _validate_url, "events": _validate_events}
    return {key: validators[key](value) for key, value in changes.items()}


def _deactivate(endpoint: Endpoint, *, actor, detail: dict | None = None) -> Endpoint:
    endpoint = _locked(endpoint)
    if not endpoint.is_active:
        raise Conflict(_("This endpoint is deactivated already."), code="inactive")
    now = timezone.now()
    endpoint.is_active = False
    endpoint.deactivated_at = now
    endpoint.save(update_fields=["is_active", "deactivated_at"])
    cancelled = Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.CANCELLED,
        lease_until=None,
        lease_token=None,
        last_error=_("Cancelled: the endpoint was deactivated."),
    )
    record_audit_event(
        actor=actor,
        action=SyncAudit.ENDPOINT_DEACTIVATED,
        obj=endpoint,
        institution=endpoint.institution,
        detail={"cancelled_deliveries": cancelled, **(detail or {})},
    )
    return endpoint


# --- the services -----------------------------------------------------------------------------


def register_endpoint(*, actor, institution: Institution, name: str, url: str, events, secret: str = "") -> Endpoint:
    """Register a hospital endpoint; a signing secret is generated when none is given (shown once)."""
    approvals.require_manage(actor, institution=institution)
    with transaction.atomic():
        return _register(actor=actor, institution=institution, name=name, url=url, events=events, secret=secret)


def change_endpoint(*, actor, endpoint: Endpoint, changes: dict) -> Endpoint:
    """Change an active endpoint's name, URL (checked as at registration) or events."""
    approvals.require_manage(actor, institution=endpoint.institution)
    with transaction.atomic():
        return _change(endpoint, actor=actor, changes=changes)


def deactivate_endpoint(*, actor, endpoint: Endpoint) -> Endpoint:
    """Stop pushing to an endpoint: it gets no new deliveries and its pending ones are cancelled now."""
    approvals.require_manage(actor, institution=endpoint.institution)
    with transaction.atomic():
        return _deactivate(endpoint, actor=actor)


# --- the same changes through a request and its approval ---------------------------------------


def _requested_endpoint(request) -> Endpoint:
    endpoint = Endpoint.objects.select_related("institution").filter(pk=request.endpoint_id).first()
    if endpoint is None or endpoint.institution_id != request.institution_id:
        raise Invalid(_("Choose an endpoint of this institution."), field="endpoint")
    if not endpoint.is_active:
        raise Conflict(_("This endpoint is deactivated already."), code="inactive")
    return endpoint


def _validate_register_request(request) -> dict:
    if request.institution is None:
        raise Invalid(_("Choose the hospital."), field="institution")
    payload = request.payload
    return _validate_new(
        institution=request.institution, name=payload.get("name"), url=payload.get("url"), events=payload.get("events")
    )


def _validate_change_request(request) -> dict:
    _requested_endpoint(request)
    return _validate_changes({key: value for key, value in request.payload.items() if key in ("name", "url", "events")})


def _validate_deactivate_request(request) -> dict:
    endpoint = _requested_endpoint(request)
    return {"name": endpoint.name, "url": endpoint.url}


def _execute_register(request, actor, detail) -> approvals.Outcome:
    endpoint = _register(actor=actor, institution=request.institution, detail=detail, **request.payload)
    return approvals.Outcome(endpoint, secret=endpoint.secret, secret_label=_("Signing secret"))


def register_changes() -> None:
    """Connect the endpoint changes to the approvals (``SyncConfig.ready``)."""
    approvals.register_change(MachineAccessKind.ENDPOINT_REGISTER, validate=_validate_register_request, execute=_execute_register)
    approvals.register_change(
        MachineAccessKind.ENDPOINT_CHANGE,
        validate=_validate_change_request,
        execute=lambda request, actor, detail: approvals.Outcome(
            _change(_requested_endpoint(request), actor=actor, changes=request.payload, detail=detail)
        ),
    )
    approvals.register_change(
        MachineAccessKind.ENDPOINT_DEACTIVATE,
        validate=_validate_deactivate_request,
        execute=lambda request, actor, detail: approvals.Outcome(
            _deactivate(_requested_endpoint(request), actor=actor, detail=detail)
        ),
    )
