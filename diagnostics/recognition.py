"""Mutual recognition of results (检查检验结果互认): a result one member produced counts at the others.

A :class:`RecognisedItem` of a consortium names a service code, a validity window and a scope.  When
a member orders that service for a patient who has a final report of the same code signed inside the
window by a centre of the consortium — and, for the ``county`` and ``city`` scopes, from the same
county (6-digit region code) or prefecture (first 4 digits) as the orderer — the prior result is
shown first.  The orderer either uses it (:func:`use_prior_result`, the repeat avoided and its fee
recorded) or orders anyway with a reason from :class:`RepeatReason`; both are recorded.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from consortium.errors import Invalid, NotPermitted
from consortium.permissions import Action, require, staff_of

from . import events
from .models import REPORTED_STATUSES, Order, RecognisedItem, RecognitionDecision, RecognitionScope, RepeatReason


@dataclass(frozen=True)
class PriorResult:
    item: RecognisedItem
    order: Order

    @property
    def valid_until(self) -> datetime.datetime:
        return self.order.reported_at + datetime.timedelta(days=self.item.validity_days)


def _in_scope(item: RecognisedItem, prior: Order, institution) -> bool:
    if item.scope == RecognitionScope.COUNTY:
        return prior.ordering_institution.region_code == institution.region_code
    if item.scope == RecognitionScope.CITY:
        return prior.ordering_institution.region_code[:4] == institution.region_code[:4]
    return True


def prior_results(patient, service, institution, *, now=None, service_code: str | None = None) -> list[PriorResult]:
    """Recognised results of ``service``'s code for the patient, inside their windows, the newest first."""
    now = now or timezone.now()
    code = service_code or service.code
    items = RecognisedItem.objects.filter(service_code=code, is_active=True, consortium__memberships__institution=institution)
    found = []
    for item in items.distinct():
        since = now - datetime.timedelta(days=item.validity_days)
        priors = (
            Order.objects.filter(
                patient=patient,
                service__code=code,
                status__in=REPORTED_STATUSES,
                reported_at__gte=since,
                reported_at__lte=now,
                centre__consortium=item.consortium,
            )
            .select_related("ordering_institution", "centre__institution", "service")
            .order_by("-reported_at", "-pk")
        )
        found += [PriorResult(item, prior) for prior in priors if _in_scope(item, prior, institution)]
    return sorted(found, key=lambda result: result.order.reported_at, reverse=True)


def all_prior_results(patient, institution, *, now=None) -> list[PriorResult]:
    """Every recognised prior result of the patient the institution could use now (for the order form)."""
    now = now or timezone.now()
    codes = Order.objects.filter(patient=patient, status__in=REPORTED_STATUSES).values_list("service__code", flat=True).distinct()
    results = []
    for code in sorted(set(codes)):
        results += prior_results(patient, None, institution, now=now, service_code=code)[:1]
    return results


def record_repeat(order: Order, prior: PriorResult, *, repeat_reason: str, actor, now) -> RecognitionDecision:
    """Inside the order's transaction: a recognised prior exists, so a repeat needs its reason."""
    if repeat_reason not in RepeatReason.values:
        raise Invalid(
            _(
                "A recognised %(service)s result from %(date)s (%(centre)s) is still valid: "
                "use it, or give the reason for repeating."
            )
            % {
                "service": prior.order.service.name,
                "date": timezone.localtime(prior.order.reported_at).strftime("%Y-%m-%d"),
                "centre": prior.order.centre.name,
            },
            field="repeat_reason",
            code="recognised_result_exists",
        )
    decision = RecognitionDecision.objects.create(
        item=prior.item,
        patient=order.patient,
        encounter=order.encounter,
        institution=order.ordering_institution,
        prior_order=prior.order,
        recognised=False,
        repeat_reason=repeat_reason,
        new_order=order,
        decided_by=actor if getattr(actor, "pk", None) and not hasattr(actor, "api_client") else None,
        decided_at=now,
    )
    events.audit(
        actor=actor,
        action="recognition.repeat",
        obj=decision,
        institution=order.ordering_institution,
        detail={"prior_order": prior.order.pk, "reason": repeat_reason, "new_order": order.pk},
    )
    return decision


def use_prior_result(*, actor, encounter, prior_order_id: int, now=None) -> RecognitionDecision:
    """Use a recognised prior result instead of repeating the test; the fee avoided is recorded."""
    now = now or timezone.now()
    staff = staff_of(actor)
    if staff is None or staff.institution_id != encounter.institution_id:
        raise NotPermitted(_("You can order only from a visit at your own institution."))
    require(actor, Action.ORDER_DIAGNOSTICS, encounter.institution_id)
    prior = Order.objects.filter(pk=prior_order_id, patient=encounter.patient).select_related("service").first()
    candidates = (
        [r for r in prior_results(encounter.patient, prior.service, encounter.institution, now=now) if r.order.pk == prior.pk]
        if prior
        else []
    )
    if not candidates:
        raise Invalid(_("That result is not a recognised prior result of this patient."), field="prior_order")
    result = candidates[0]
    with transaction.atomic():
        decision = RecognitionDecision.objects.create(
            item=result.item,
            patient=encounter.patient,
            encounter=encounter,
            institution=encounter.institution,
            prior_order=result.order,
            recognised=True,
            avoided_cost=result.order.service.fee_amount.quantize(Decimal("0.01")),
            decided_by=actor,
            decided_at=now,
        )
        events.audit(
            actor=actor,
            action="recognition.use",
            obj=decision,
            institution=encounter.institution,
            detail={"prior_order": result.order.pk, "avoided_cost": str(decision.avoided_cost)},
        )
    return decision
