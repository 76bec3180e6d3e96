"""Sync endpoints: a hospital registers where its events go (URL, events, signing secret) and deactivates it."""

import secrets
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from consortium.models import Institution
from consortium.permissions import Action, require
from consortium.services import record_audit_event

from .audit import SyncAudit
from .models import ENDPOINT_EVENTS, Endpoint


def _validate_endpoint(*, institution: Institution, name: str, url: str, events) -> list[str]:
    errors: dict[str, list[str]] = {}
    if not institution.is_hospital:
        errors.setdefault("institution", []).append(_("Only county and city hospitals register sync endpoints."))
    if not name or not name.strip():
        errors.setdefault("name", []).append(_("Give the endpoint a name."))
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        errors.setdefault("url", []).append(_("Enter an http or https URL."))
    if not isinstance(events, list | tuple) or not events:
        errors.setdefault("events", []).append(_("Choose at least one event."))
    else:
        unknown = [event for event in events if event not in ENDPOINT_EVENTS]
        if unknown:
            errors.setdefault("events", []).append(
                _("Unknown events: %(events)s. Choose from %(allowed)s.")
                % {"events": ", ".join(map(str, unknown)), "allowed": ", ".join(ENDPOINT_EVENTS)}
            )
    if errors:
        raise ValidationError(errors)
    return sorted(set(events))


def register_endpoint(*, actor, institution: Institution, name: str, url: str, events, secret: str = "") -> Endpoint:
    """Register a hospital endpoint; a signing secret is generated when none is given."""
    require(actor, Action.MANAGE_SYNC, institution)
    events = _validate_endpoint(institution=institution, name=name, url=url, events=events)
    if secret and len(secret) < 16:
        raise ValidationError({"secret": [_("A signing secret needs at least 16 characters.")]})
    with transaction.atomic():
        if Endpoint.objects.filter(institution=institution, url=url).exists():
            raise ValidationError({"url": [_("This institution already has an endpoint with this URL.")]})
        endpoint = Endpoint.objects.create(
            institution=institution, name=name.strip(), url=url, events=events, secret=secret or secrets.token_urlsafe(32)
        )
        record_audit_event(
            actor=actor, action=SyncAudit.ENDPOINT_REGISTERED, obj=endpoint, institution=institution, detail={"events": events}
        )
    return endpoint


def deactivate_endpoint(*, actor, endpoint: Endpoint) -> Endpoint:
    require(actor, Action.MANAGE_SYNC, endpoint.institution_id)
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.is_active = False
        endpoint.save(update_fields=["is_active"])
        record_audit_event(actor=actor, action=SyncAudit.ENDPOINT_DEACTIVATED, obj=endpoint, institution=endpoint.institution)
    return endpoint
