"""Writes of secondments: a hospital physician stationed at a member's primary-level institution.

The consortium's administrator records them; each write checks the actor's right, locks, validates,
writes and audits in one transaction. The dashboard counts them for every month they cover.
"""

import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .audit import ConsortiumAudit
from .errors import Conflict, Invalid
from .models import HOSPITAL_LEVELS, PRIMARY_LEVELS, Institution, Membership, Secondment
from .permissions import Action, require
from .services import record_audit_event


def _consortium_of(institution: Institution):
    membership = Membership.objects.filter(institution=institution).select_related("consortium").first()
    return membership.consortium if membership is not None else None


def record_secondment(
    *,
    actor,
    physician_name: str,
    specialty: str,
    from_institution: Institution,
    to_institution: Institution,
    starts_on: datetime.date,
    ends_on: datetime.date | None = None,
) -> Secondment:
    require(actor, Action.MANAGE_MEMBERSHIPS, to_institution)
    require(actor, Action.MANAGE_MEMBERSHIPS, from_institution)
    errors = {}
    name = (physician_name or "").strip()
    if not name or len(name) > 100:
        errors["physician_name"] = [_("Give the physician's name (at most 100 characters).")]
    if from_institution.level not in HOSPITAL_LEVELS:
        errors["from_institution"] = [_("A physician is seconded from a county or city hospital.")]
    if to_institution.level not in PRIMARY_LEVELS:
        errors["to_institution"] = [_("A physician is seconded to a township health centre or village clinic.")]
    consortium = _consortium_of(to_institution)
    if consortium is None or _consortium_of(from_institution) != consortium:
        errors.setdefault("to_institution", []).append(_("Both institutions must be members of the same consortium."))
    if ends_on is not None and ends_on < starts_on:
        errors["ends_on"] = [_("The end must not be before the start.")]
    if errors:
        raise Invalid(_("The secondment is not valid."), field=next(iter(errors)), code="bad_secondment", errors=errors)
    with transaction.atomic():
        Institution.objects.select_for_update().get(pk=to_institution.pk)
        overlapping = Secondment.objects.filter(
            physician_name=name, from_institution=from_institution, starts_on__lte=ends_on or datetime.date.max
        ).exclude(ends_on__lt=starts_on)
        if overlapping.exists():
            raise Conflict(
                _("This physician already has a secondment in that period; end it first."), field="starts_on", code="overlap"
            )
        secondment = Secondment.objects.create(
            consortium=consortium,
            physician_name=name,
            specialty=(specialty or "").strip()[:100],
            from_institution=from_institution,
            to_institution=to_institution,
            starts_on=starts_on,
            ends_on=ends_on,
        )
        record_audit_event(
            actor=actor,
            action=ConsortiumAudit.SECONDMENT_RECORDED,
            obj=secondment,
            institution=to_institution,
            detail={"from": from_institution.pk, "starts_on": starts_on.isoformat(), "ends_on": ends_on and ends_on.isoformat()},
        )
    return secondment


def end_secondment(*, actor, secondment: Secondment, ends_on: datetime.date | None = None) -> Secondment:
    """End a secondment on ``ends_on`` (today by default); an ended one is not reopened."""
    require(actor, Action.MANAGE_MEMBERSHIPS, secondment.to_institution_id)
    ends_on = ends_on or timezone.localdate()
    with transaction.atomic():
        secondment = Secondment.objects.select_for_update().get(pk=secondment.pk)
        if secondment.ends_on is not None and secondment.ends_on <= ends_on:
            raise Conflict(_("This secondment has already ended."), field="ends_on", code="ended")
        if ends_on < secondment.starts_on:
            raise Invalid(_("The end must not be before the start."), field="ends_on", code="bad_secondment")
        secondment.ends_on = ends_on
        secondment.save(update_fields=["ends_on"])
        record_audit_event(
            actor=actor,
            action=ConsortiumAudit.SECONDMENT_ENDED,
            obj=secondment,
            institution=secondment.to_institution,
            detail={"ends_on": ends_on.isoformat()},
        )
    return secondment
