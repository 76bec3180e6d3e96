"""API tokens of member systems and insurance offices: issue, rotate, revoke.

A token is 256 random bits shown once, on the page (or API answer) that made it, never in a message
or a cookie; only its SHA-256 and an 8-character prefix (to recognise it in lists) are stored.  It
expires after ``API_TOKEN_LIFETIME_DAYS`` (365 by default).  Rotating issues a new token and keeps
the old one working for ``API_TOKEN_ROTATION_OVERLAP_HOURS`` (24 by default; 0 ends it at once), so a
member system switches without an outage; revoking ends both at once.  ``last_used_at`` is kept by
the authentication (``consortium.api_auth``), to the minute.

Who may: see ``consortium.approvals`` (the owner's administrator directly, a consortium administrator
through a request a second administrator approves).  Every change is audited, the token never.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from . import approvals
from .audit import ConsortiumAudit
from .errors import Conflict, Invalid, NotFound
from .models import (
    ApiClient,
    ApiClientKind,
    Institution,
    InsuranceOffice,
    MachineAccessKind,
    default_token_expiry,
    token_rotation_overlap,
)
from .services import record_audit_event


def _owner_of(client: ApiClient) -> dict:
    return {"institution": client.institution, "insurance_office": client.insurance_office}


def _validate_new(*, name: str, institution=None, insurance_office=None) -> tuple[str, str]:
    name = (name or "").strip()
    if not name:
        raise Invalid(_("Give the client a name (the system that will use the token)."), field="name")
    if len(name) > 100:
        raise Invalid(_("A name has at most 100 characters."), field="name")
    if (institution is None) == (insurance_office is None):
        raise Invalid(_("A token belongs to one institution or one insurance office."), field="institution")
    if institution is not None and not institution.is_active:
        raise Invalid(_("This institution is not active."), field="institution")
    kind = ApiClientKind.MEMBER_SYSTEM if institution is not None else ApiClientKind.INSURANCE_OFFICE
    return name, kind


def _issue(*, actor, name: str, institution=None, insurance_office=None, detail: dict | None = None) -> approvals.Outcome:
    name, kind = _validate_new(name=name, institution=institution, insurance_office=insurance_office)
    client = ApiClient(name=name, kind=kind, institution=institution, insurance_office=insurance_office)
    token = client.issue_token()
    client.expires_at = default_token_expiry()
    client.save()
    record_audit_event(
        actor=actor,
        action=ConsortiumAudit.API_TOKEN_ISSUED,
        obj=client,
        institution=institution,
        detail={"prefix": client.token_prefix, "expires_at": client.expires_at.isoformat(), **(detail or {})},
    )
    return approvals.Outcome(client, secret=token, secret_label=_("API token"))


def _locked(client: ApiClient) -> ApiClient:
    try:
        return (
            ApiClient.objects.select_for_update(of=("self",)).select_related("institution", "insurance_office").get(pk=client.pk)
        )
    except ApiClient.DoesNotExist:
        raise NotFound from None


def _rotate(client: ApiClient, *, actor, detail: dict | None = None) -> approvals.Outcome:
    client = _locked(client)
    if client.revoked_at is not None:
        raise Conflict(_("This token is revoked; issue a new one instead."), code="revoked")
    now = timezone.now()
    overlap = token_rotation_overlap()
    if overlap.total_seconds() > 0:
        client.previous_token_hash = client.token_hash
        client.previous_token_valid_until = min(now + overlap, client.expires_at) if client.expires_at else now + overlap
    else:
        client.previous_token_hash = ""
        client.previous_token_valid_until = None
    token = client.issue_token()
    client.rotated_at = now
    client.expires_at = default_token_expiry()
    client.save()
    record_audit_event(
        actor=actor,
        action=ConsortiumAudit.API_TOKEN_ROTATED,
        obj=client,
        institution=client.institution,
        detail={
            "prefix": client.token_prefix,
            "previous_valid_until": client.previous_token_valid_until.isoformat() if client.previous_token_valid_until else None,
            **(detail or {}),
        },
    )
    return approvals.Outcome(client, secret=token, secret_label=_("API token"))


def _revoke(client: ApiClient, *, actor, detail: dict | None = None) -> approvals.Outcome:
    client = _locked(client)
    if client.revoked_at is not None:
        raise Conflict(_("This token is revoked already."), code="revoked")
    client.revoked_at = timezone.now()
    client.previous_token_hash = ""
    client.previous_token_valid_until = None
    client.save(update_fields=["revoked_at", "previous_token_hash", "previous_token_valid_until"])
    record_audit_event(
        actor=actor,
        action=ConsortiumAudit.API_TOKEN_REVOKED,
        obj=client,
        institution=client.institution,
        detail={"prefix": client.token_prefix, **(detail or {})},
    )
    return approvals.Outcome(client)


# --- the services -----------------------------------------------------------------------------


def create_api_token(
    *, actor, name: str, institution: Institution | None = None, insurance_office: InsuranceOffice | None = None
):
    """Issue a token to the owner's system; returns the outcome with the token, to show once."""
    approvals.require_manage(actor, institution=institution, insurance_office=insurance_office)
    with transaction.atomic():
        return _issue(actor=actor, name=name, institution=institution, insurance_office=insurance_office)


def rotate_api_token(*, actor, api_client: ApiClient) -> approvals.Outcome:
    """A new token for the client; the old one works for the overlap, then no more."""
    approvals.require_manage(actor, **_owner_of(api_client))
    with transaction.atomic():
        return _rotate(api_client, actor=actor)


def revoke_api_token(*, actor, api_client: ApiClient) -> ApiClient:
    """End the client's token (and a rotated one still in its overlap) at once."""
    approvals.require_manage(actor, **_owner_of(api_client))
    with transaction.atomic():
        return _revoke(api_client, actor=actor).obj


# --- the same changes through a request and its approval ---------------------------------------


def _validate_create(request) -> dict:
    name, _kind = _validate_new(
        name=request.payload.get("name", ""), institution=request.institution, insurance_office=request.insurance_office
    )
    return {"name": name}


def _validate_existing(request) -> dict:
    client = request.api_client
    if client is None:
        raise Invalid(_("Choose the API client."), field="api_client")
    if client.institution_id != request.institution_id or client.insurance_office_id != request.insurance_office_id:
        raise Invalid(_("This API client belongs to someone else."), field="api_client")
    if client.revoked_at is not None:
        raise Conflict(_("This token is revoked already."), code="revoked")
    return {"name": client.name, "prefix": client.token_prefix}


def register_changes() -> None:
    """Connect the token changes to the approvals (``ConsortiumConfig.ready``)."""
    approvals.register_change(
        MachineAccessKind.TOKEN_CREATE,
        validate=_validate_create,
        execute=lambda request, actor, detail: _issue(
            actor=actor,
            name=request.payload["name"],
            institution=request.institution,
            insurance_office=request.insurance_office,
            detail=detail,
        ),
    )
    approvals.register_change(
        MachineAccessKind.TOKEN_ROTATE,
        validate=_validate_existing,
        execute=lambda request, actor, detail: _rotate(request.api_client, actor=actor, detail=detail),
    )
    approvals.register_change(
        MachineAccessKind.TOKEN_REVOKE,
        validate=_validate_existing,
        execute=lambda request, actor, detail: _revoke(request.api_client, actor=actor, detail=detail),
    )
