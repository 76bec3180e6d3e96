"""Configuring shared centres: the centre, its catalogue of services, its readers, whom it serves.

Consortium administrators (for any member of their consortium) and the running hospital's
administrators (for their own centres) may configure.  A centre serves only active members of its
consortium; a reader is a staff member of the running hospital, qualified per modality the centre reads.
"""

from django.db import transaction
from django.utils.translation import gettext as _

from consortium.errors import Invalid
from consortium.models import Membership
from consortium.permissions import Action, require

from . import events
from .models import KIND_MODALITIES, Centre, CentreService, Modality, Reader


def _audit(actor, action: str, obj, institution, detail: dict) -> None:
    events.audit(actor=actor, action=f"catalogue.{action}", obj=obj, institution=institution, detail=detail)


def check_centre(centre: Centre, served_ids=None) -> set[int] | None:
    """Refuse a centre not run by a member hospital, or serving a non-member; the served ids, checked."""
    if not centre.institution.is_hospital:
        raise Invalid(_("A shared centre is run by a county or city hospital."), field="institution")
    members = set(Membership.objects.active().filter(consortium=centre.consortium).values_list("institution_id", flat=True))
    if centre.institution_id not in members:
        raise Invalid(_("The running hospital must be an active member of the consortium."), field="institution")
    served = set(served_ids) if served_ids is not None else None
    if served is not None and not served <= members:
        raise Invalid(_("A centre serves only active members of its consortium."), field="served_institutions")
    return served


def save_centre(*, actor, centre: Centre, served_ids=None) -> Centre:
    """Create or update a centre (a validated, unsaved or changed instance) and whom it serves."""
    require(actor, Action.CONFIGURE_DIAGNOSTICS, centre.institution_id)
    served = check_centre(centre, served_ids)
    with transaction.atomic():
        creating = centre.pk is None
        centre.save()
        if served is not None:
            centre.served_institutions.set(sorted(served))
        _audit(
            actor,
            "centre_created" if creating else "centre_changed",
            centre,
            centre.institution,
            {"kind": centre.kind, "served": sorted(served) if served is not None else None},
        )
    return centre


def save_service(*, actor, service: CentreService) -> CentreService:
    centre = service.centre
    require(actor, Action.CONFIGURE_DIAGNOSTICS, centre.institution_id)
    allowed = KIND_MODALITIES.get(centre.kind, set())
    if service.modality not in allowed:
        raise Invalid(
            _("%(centre)s does not read %(modality)s.") % {"centre": centre.name, "modality": Modality(service.modality).label},
            field="modality",
        )
    with transaction.atomic():
        creating = service.pk is None
        service.save()
        _audit(actor, "service_created" if creating else "service_changed", service, centre.institution, {"code": service.code})
    return service


def save_reader(*, actor, reader: Reader) -> Reader:
    centre = reader.centre
    require(actor, Action.CONFIGURE_DIAGNOSTICS, centre.institution_id)
    if reader.staff.institution_id != centre.institution_id:
        raise Invalid(_("A reader is a staff member of the hospital that runs the centre."), field="staff")
    modalities = sorted(set(reader.modalities or []))
    allowed = KIND_MODALITIES.get(centre.kind, set())
    unknown = [m for m in modalities if m not in allowed]
    if not modalities or unknown:
        raise Invalid(_("Choose one or more modalities this centre reads."), field="modalities")
    reader.modalities = modalities
    with transaction.atomic():
        creating = reader.pk is None
        reader.save()
        _audit(actor, "reader_added" if creating else "reader_changed", reader, centre.institution, {"modalities": modalities})
    return reader
