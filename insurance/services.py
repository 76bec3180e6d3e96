"""Writes of the insurance app: one function per action, each in one transaction that locks what it changes."""

from contextlib import closing
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from consortium.errors import Conflict, IllegalTransition, Invalid, NotPermitted, Unprocessable
from consortium.models import LEVEL_RANK, Institution, OutboxEventType
from consortium.permissions import SYSTEM, Action, can, can_anywhere, require
from consortium.services import record_audit_event, record_outbox_event
from records.models import Encounter, EncounterKind
from referrals.selectors import entitling_referral

from . import reconciliation, selectors
from .allocation import allocate
from .audit import InsuranceAudit
from .benefits import PRIMARY_LEVELS, benefits_of
from .calculator import ZERO, Benefit, ChargeLine, Visit, YearSoFar, settle
from .models import (
    ADJUDICATED,
    AWAITING_ADJUDICATION,
    REVERSIBLE,
    Accumulator,
    AppealKind,
    BatchStatus,
    Claim,
    ClaimAppeal,
    ClaimBatch,
    ClaimKind,
    ClaimLine,
    ClaimStatus,
    Discrepancy,
    DiscrepancyStatus,
    Enrolment,
    OfficeScheme,
    PeriodClose,
    Policy,
    PolicyAssistanceRule,
    PolicyIllnessSegment,
    PolicyLevelRule,
    PolicyStatus,
    ReasonCode,
    ReconciliationRun,
    RunStatus,
    SettlementFile,
    reason_code_validator,
)
from .registry import is_special_disease_patient
from .selectors import is_period_closed
from .transitions import CLAIM_TRANSITIONS, DISCREPANCY_TRANSITIONS, POLICY_TRANSITIONS, discrepancy_action

#: Claims in these statuses may be reversed (a draft or submitted claim is still the institution's to withdraw).


def _check_transition(table: dict, current: str, target: str) -> None:
    if target not in table.get(current, frozenset()):
        raise IllegalTransition(
            _("The status cannot change from %(current)s to %(target)s.") % {"current": current, "target": target},
            field="status",
        )


def period_of(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m")


def is_open_period(institution_id: int, period: str, *, office=None, scheme_id: int | None = None) -> bool:
    return not is_period_closed(institution_id, period, office=office, scheme_id=scheme_id)


def _require_open_period(institution_id: int, period: str, *, office=None, scheme_id: int | None = None) -> None:
    """Refuse a write into a closed period: ``office``'s close (reconciliation), or a close by an
    office administering ``scheme_id`` (claims of that scheme), or any office's close."""
    if is_period_closed(institution_id, period, office=office, scheme_id=scheme_id):
        raise Conflict(
            _("The period %(period)s is closed for this institution.") % {"period": period}, field="period", code="period_closed"
        )


# --- policies -------------------------------------------------------------------------------------


def validate_policy_rules(policy: Policy) -> None:
    rules = list(policy.level_rules.all())
    if not rules:
        raise ValidationError(_("A policy needs at least one level rule before it can be put in force."))
    for rule in rules:
        if rule.unreferred_ratio > rule.ratio:
            raise ValidationError(_("The ratio without referral may not be above the normal ratio."))
    if policy.illness_threshold is not None and not policy.illness_segments.exists():
        raise ValidationError(
            {"illness_threshold": _("Critical-illness insurance needs at least one segment (from 0 above the threshold).")}
        )
    segments = list(policy.illness_segments.order_by("start"))
    if segments and segments[0].start != ZERO:
        raise ValidationError({"illness_segments": _("The first critical-illness segment must start at 0 above the threshold.")})
    if policy.outpatient_pooling and not policy.outpatient_annual_cap:
        raise ValidationError({"outpatient_annual_cap": _("Outpatient pooling needs a yearly cap above 0.")})


def _require_policy_manager(actor) -> None:
    """Policies are the consortium's rules, kept in the admin: its policy editors, superusers and the platform."""
    if actor is SYSTEM:
        return
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.has_perm("insurance.change_policy"):
        raise NotPermitted(_("Only a policy editor may publish or version insurance policies."))


def publish_policy(*, policy: Policy, actor) -> Policy:
    """Put a draft version in force; the version in force before it becomes superseded."""
    _require_policy_manager(actor)
    with transaction.atomic():
        policy = Policy.objects.select_for_update().get(pk=policy.pk)
        if PolicyStatus.IN_FORCE not in POLICY_TRANSITIONS[policy.status]:
            raise ValidationError({"status": _("Only a draft policy can be put in force.")})
        validate_policy_rules(policy)
        current = Policy.objects.select_for_update().filter(scheme=policy.scheme, year=policy.year, status=PolicyStatus.IN_FORCE)
        for old in current:
            _check_transition(POLICY_TRANSITIONS, old.status, PolicyStatus.SUPERSEDED)
            old.status = PolicyStatus.SUPERSEDED
            old.save(update_fields=["status"])
        policy.status = PolicyStatus.IN_FORCE
        policy.published_at = timezone.now()
        policy.save(update_fields=["status", "published_at"])
        record_audit_event(actor=actor, action=InsuranceAudit.POLICY_PUBLISHED, obj=policy, detail={"version": policy.version})
    return policy


def new_policy_version(*, policy: Policy, actor) -> Policy:
    """Copy a policy (with its level rules) into the next draft version: the way to change a policy in force."""
    _require_policy_manager(actor)
    with transaction.atomic():
        list(Policy.objects.select_for_update().filter(scheme=policy.scheme, year=policy.year))  # serialise versioning
        next_version = (Policy.objects.filter(scheme=policy.scheme, year=policy.year).aggregate(v=Max("version"))["v"] or 0) + 1
        draft = Policy.objects.create(
            scheme=policy.scheme,
            year=policy.year,
            version=next_version,
            **{name: getattr(policy, name) for name in Policy.NUMBER_FIELDS},
        )
        PolicyLevelRule.objects.bulk_create(
            PolicyLevelRule(
                policy=draft,
                level=rule.level,
                deductible=rule.deductible,
                ratio=rule.ratio,
                unreferred_ratio=rule.unreferred_ratio,
                annual_ceiling=rule.annual_ceiling,
                later_admission_deductible=rule.later_admission_deductible,
            )
            for rule in policy.level_rules.all()
        )
        PolicyIllnessSegment.objects.bulk_create(
            PolicyIllnessSegment(policy=draft, start=segment.start, ratio=segment.ratio)
            for segment in policy.illness_segments.all()
        )
        PolicyAssistanceRule.objects.bulk_create(
            PolicyAssistanceRule(policy=draft, group=rule.group, ratio=rule.ratio, annual_cap=rule.annual_cap)
            for rule in policy.assistance_rules.all()
        )
        record_audit_event(
            actor=actor, action=InsuranceAudit.POLICY_VERSIONED, obj=draft, detail={"from_version": policy.version}
        )
    return draft


# --- accumulators and claims ----------------------------------------------------------------------


def _locked_accumulator(patient_id: int, scheme_id: int, year: int) -> Accumulator:
    """The patient's accumulator row, created if missing, locked until the transaction ends."""
    Accumulator.objects.bulk_create([Accumulator(patient_id=patient_id, scheme_id=scheme_id, year=year)], ignore_conflicts=True)
    return Accumulator.objects.select_for_update().get(patient_id=patient_id, scheme_id=scheme_id, year=year)


def _year_so_far(accumulator: Accumulator) -> YearSoFar:
    return YearSoFar(
        deductible_paid=accumulator.deductible_paid,
        reimbursed=accumulator.reimbursed,
        admissions=accumulator.admissions,
        outpatient_deductible_paid=accumulator.outpatient_deductible_paid,
        outpatient_reimbursed=accumulator.outpatient_reimbursed,
        special_reimbursed=accumulator.special_reimbursed,
        illness_qualifying=accumulator.illness_qualifying,
        illness_paid=accumulator.illness_paid,
        assistance_paid=accumulator.assistance_paid,
    )


ACCUMULATOR_FIELDS = [
    "deductible_paid",
    "reimbursed",
    "admissions",
    "outpatient_deductible_paid",
    "outpatient_reimbursed",
    "special_reimbursed",
    "illness_qualifying",
    "illness_paid",
    "assistance_paid",
]


def _accumulate(accumulator: Accumulator, claim: Claim, *, sign: int, basic: Decimal, deductible: bool, layers: bool) -> None:
    """Add (sign 1) or give back (sign −1) a claim's use of the year: ``basic`` of the basic layer's bucket,
    its deductible when ``deductible``, its admission, qualifying self-pay and further layers when ``layers``."""
    if claim.benefit == Benefit.OUTPATIENT_POOL:
        accumulator.outpatient_reimbursed += sign * basic
        if deductible:
            accumulator.outpatient_deductible_paid += sign * claim.deductible_applied
    elif claim.benefit == Benefit.SPECIAL_DISEASE:
        accumulator.special_reimbursed += sign * basic
    else:
        accumulator.reimbursed += sign * basic
        if deductible:
            accumulator.deductible_paid += sign * claim.deductible_applied
    if layers:
        if claim.admission_number is not None:
            accumulator.admissions = max(0, accumulator.admissions + sign)
        if claim.illness_counted:
            accumulator.illness_qualifying += sign * (claim.eligible - claim.reimbursed)
        accumulator.illness_paid += sign * claim.illness_paid
        accumulator.assistance_paid += sign * claim.assistance_paid


def _has_open_claim(encounter: Encounter) -> bool:
    """Whether the encounter has a claim that no reversal cancels."""
    counts = encounter.claims.aggregate(
        originals=Count("pk", filter=Q(kind=ClaimKind.ORIGINAL)), reversals=Count("pk", filter=Q(kind=ClaimKind.REVERSAL))
    )
    return counts["originals"] > counts["reversals"]


def create_claim(*, encounter: Encounter, actor, replaces: Claim | None = None) -> Claim:
    """Calculate a draft claim from an encounter's charge items under the policy in force for its year."""
    require(actor, Action.CREATE_CLAIM, encounter.institution_id)
    with transaction.atomic():
        encounter = (
            Encounter.objects.select_for_update(of=("self",))
            .select_related("patient__home_institution", "institution")
            .get(pk=encounter.pk)
        )
        institution = encounter.institution
        patient = encounter.patient
        period = period_of(encounter.started_at)
        year = int(period[:4])
        if _has_open_claim(encounter):
            raise Conflict(_("This visit already has a claim; reverse it to correct it."), field="encounter", code="claim_exists")
        enrolment = Enrolment.objects.select_related("scheme").filter(patient=patient, year=year).first()
        if enrolment is None:
            raise Invalid(
                _("The patient is not enrolled in an insurance scheme for %(year)s.") % {"year": year},
                field="encounter",
                code="not_enrolled",
            )
        _require_open_period(institution.pk, period, scheme_id=enrolment.scheme_id)
        policy = (
            Policy.objects.prefetch_related("level_rules", "illness_segments", "assistance_rules")
            .filter(scheme=enrolment.scheme, year=year, status=PolicyStatus.IN_FORCE)
            .first()
        )
        if policy is None:
            raise Invalid(_("No policy is in force for this scheme and year."), field="encounter", code="no_policy")
        rule = policy.rule_for(institution.level)
        if rule is None:
            raise Invalid(_("The policy in force has no rule for this institution level."), field="encounter", code="no_policy")
        benefits = benefits_of(policy, rule, enrolment.assistance_group)
        items = list(encounter.charge_items.all())
        if not items:
            raise Invalid(_("This visit has no charge items to claim."), field="encounter", code="no_charge_items")

        home = patient.home_institution
        upward = LEVEL_RANK[institution.level] > LEVEL_RANK[home.level]
        referral = entitling_referral(patient, institution, encounter.started_at) if upward else None
        referred = referral is not None
        out_of_county = institution.region_code != home.region_code
        referring_deductible = None
        if referral is not None and referral.from_institution.region_code == institution.region_code:
            referring_rule = policy.rule_for(referral.from_institution.level)
            referring_deductible = referring_rule.deductible if referring_rule is not None else None
        inpatient = encounter.kind == EncounterKind.INPATIENT
        visit = Visit(
            inpatient=inpatient,
            upward=upward,
            referred=referred,
            out_of_county=out_of_county,
            primary_level=institution.level in PRIMARY_LEVELS,
            special_disease=is_special_disease_patient(enrolment),
            referring_deductible=referring_deductible,
        )
        accumulator = _locked_accumulator(patient.pk, enrolment.scheme_id, year)
        lines = [ChargeLine(i.item_code, i.name, i.catalogue_class, i.amount) for i in items]
        statement = settle(lines, benefits, _year_so_far(accumulator), visit)
        result = statement.basic
        sequence = encounter.claims.count() + 1
        claim = Claim.objects.create(
            number=f"{institution.code}-{encounter.pk:06d}-{sequence}",
            encounter=encounter,
            patient=patient,
            institution=institution,
            scheme=enrolment.scheme,
            policy=policy,
            insurance_number=enrolment.insurance_number,
            period=period,
            replaces=replaces,
            level=institution.level,
            referred=referred,
            upward=upward,
            total=result.total,
            eligible=result.eligible,
            deductible_applied=result.deductible_applied,
            ratio=result.ratio,
            reimbursed=result.reimbursed,
            self_pay=result.self_pay,
            benefit=result.benefit,
            out_of_county=out_of_county,
            admission_number=accumulator.admissions + 1 if inpatient else None,
            illness_counted=benefits.illness is not None and (inpatient or result.benefit == Benefit.SPECIAL_DISEASE),
            illness_paid=statement.illness_paid,
            assistance_paid=statement.assistance_paid,
            patient_pays=statement.patient_pays,
            steps=statement.steps(),
            referral=referral,
        )
        payable = allocate(max(result.reimbursed, ZERO), [r.eligible for r in result.lines])
        ClaimLine.objects.bulk_create(
            ClaimLine(
                claim=claim,
                sequence=index + 1,
                item_code=r.line.item_code,
                name=r.line.name,
                catalogue_class=r.line.catalogue_class,
                amount=r.line.amount,
                class_self_pay=r.class_self_pay,
                eligible=r.eligible,
                payable=share,
            )
            for index, (r, share) in enumerate(zip(result.lines, payable, strict=True))
        )
        _accumulate(accumulator, claim, sign=1, basic=result.reimbursed, deductible=True, layers=True)
        accumulator.save(update_fields=ACCUMULATOR_FIELDS)
        record_audit_event(
            actor=actor,
            action=InsuranceAudit.CLAIM_CREATED,
            obj=claim,
            institution=institution,
            detail={
                "number": claim.number,
                "reimbursed": str(claim.reimbursed),
                "illness_paid": str(claim.illness_paid),
                "assistance_paid": str(claim.assistance_paid),
            },
        )
        record_outbox_event(
            event_type=OutboxEventType.CLAIM,
            obj=claim,
            patient_id=patient.pk,
            institution=institution,
            payload={"number": claim.number, "status": claim.status},
        )
    return claim


def submit_claims(*, institution: Institution, period: str, actor, only=None) -> list[ClaimBatch]:
    """Put the institution's draft claims of a period into one new batch per scheme (``only``: just these claim ids)."""
    require(actor, Action.CREATE_CLAIM, institution)
    with transaction.atomic():
        drafts = Claim.objects.select_for_update().filter(institution=institution, period=period, status=ClaimStatus.DRAFT)
        if only is not None:
            drafts = drafts.filter(pk__in=list(only))
        drafts = list(drafts.order_by("pk"))
        batches = []
        for scheme_id in sorted({c.scheme_id for c in drafts}):
            _require_open_period(institution.pk, period, scheme_id=scheme_id)
            claims = [c for c in drafts if c.scheme_id == scheme_id]
            sequence = (
                ClaimBatch.objects.filter(institution=institution, scheme_id=scheme_id, period=period).aggregate(
                    s=Max("sequence")
                )["s"]
                or 0
            ) + 1
            scheme_code = claims[0].scheme.code
            batch = ClaimBatch.objects.create(
                number=f"{institution.code}-{scheme_code}-{period}-{sequence:02d}",
                institution=institution,
                scheme_id=scheme_id,
                period=period,
                sequence=sequence,
                claim_count=len(claims),
                total_claimed=sum((c.reimbursed for c in claims), ZERO),
            )
            now = timezone.now()
            for claim in claims:
                _check_transition(CLAIM_TRANSITIONS, claim.status, ClaimStatus.SUBMITTED)
            Claim.objects.filter(pk__in=[c.pk for c in claims]).update(
                status=ClaimStatus.SUBMITTED, batch=batch, submitted_at=now, updated_at=now
            )
            record_audit_event(
                actor=actor,
                action=InsuranceAudit.BATCH_SUBMITTED,
                obj=batch,
                institution=institution,
                detail={"claims": len(claims), "period": period},
            )
            record_outbox_event(
                event_type=OutboxEventType.CLAIM,
                obj=batch,
                patient_id=None,
                institution=institution,
                payload={"batch": batch.number, "claims": len(claims)},
            )
            batches.append(batch)
    return batches


class ClaimSubmissionErrors(Unprocessable):
    """An HIS claim submission was refused whole; ``errors`` names each visit by ``claims.<index>.<field>``."""

    code = "claims_refused"

    def __init__(self, errors: list[dict]):
        super().__init__(
            _("The claims were refused; nothing was recorded."),
            errors=[
                {"field": f"claims.{e['index']}.{e['field']}", "message": e["reason"], "code": e.get("code", self.code)}
                for e in errors
            ],
        )


MAX_HIS_CLAIMS = 500


def submit_his_claims(*, institution: Institution, external_ids: list[str], actor) -> tuple[list[Claim], list[ClaimBatch]]:
    """Claims from the institution's own HIS: one claim per visit (named by the HIS's own visit ID, as
    its sync batches landed it), calculated, then submitted in batches, all or nothing.

    Each visit that cannot be claimed is named with its index and reason (no such visit, claimed
    already, not enrolled, no policy, closed period …); nothing is written unless every one can.
    """
    require(actor, Action.CREATE_CLAIM, institution)
    if not external_ids:
        raise Invalid(_("Name at least one visit."), field="claims", code="required")
    if len(external_ids) > MAX_HIS_CLAIMS:
        raise Invalid(
            _("At most %(count)s visits in one submission.") % {"count": MAX_HIS_CLAIMS}, field="claims", code="too_many"
        )
    errors = []
    with transaction.atomic():
        encounters = {
            e.external_id: e
            for e in Encounter.objects.filter(institution=institution, external_id__in=[x for x in external_ids if x])
        }
        seen = set()
        claims = []
        for index, external_id in enumerate(external_ids):
            if external_id in seen:
                errors.append(
                    {"index": index, "field": "external_id", "reason": _("This visit appears twice."), "code": "duplicate"}
                )
                continue
            seen.add(external_id)
            encounter = encounters.get(external_id)
            if encounter is None:
                errors.append(
                    {
                        "index": index,
                        "field": "external_id",
                        "reason": _("No visit with this ID was received from your institution."),
                        "code": "not_found",
                    }
                )
                continue
            try:
                with transaction.atomic():
                    claims.append(create_claim(encounter=encounter, actor=actor))
            except (Invalid, Conflict) as error:
                errors.append(
                    {
                        "index": index,
                        "field": "external_id" if error.field in (None, "encounter") else error.field,
                        "reason": error.message,
                        "code": error.code,
                    }
                )
        if errors:
            raise ClaimSubmissionErrors(errors)
        batches = []
        for period in sorted({c.period for c in claims}):
            batches += submit_claims(
                institution=institution, period=period, actor=actor, only=[c.pk for c in claims if c.period == period]
            )
        record_audit_event(
            actor=actor,
            action=InsuranceAudit.CLAIMS_SUBMITTED_BY_HIS,
            obj=institution,
            institution=institution,
            detail={"claims": [c.number for c in claims][:100], "count": len(claims), "batches": [b.number for b in batches]},
        )
    return [Claim.objects.get(pk=c.pk) for c in claims], batches


def add_reason_code(*, actor, code: str, text_zh: str, text_en: str) -> ReasonCode:
    """An office's own reason code (only that office may use it); a platform code's name is refused."""
    office = selectors.office_of(actor)
    if office is None:
        raise NotPermitted(_("Only an insurance office can add its own reason codes."))
    code = (code or "").strip()
    errors = {}
    try:
        reason_code_validator(code)
    except ValidationError as error:
        errors["code"] = [str(m) for m in error.messages]
    for field, value in (("text_zh", text_zh), ("text_en", text_en)):
        if not (value or "").strip():
            errors[field] = [_("This text is required.")]
    if errors:
        raise Invalid(next(iter(errors.values()))[0], errors=errors, code="invalid")
    with transaction.atomic():
        if ReasonCode.objects.filter(Q(office__isnull=True) | Q(office=office), code=code).exists():
            raise Conflict(
                _("The reason code %(code)s exists already.") % {"code": code}, field="code", code="reason_code_exists"
            )
        reason = ReasonCode.objects.create(office=office, code=code, text_zh=text_zh.strip()[:200], text_en=text_en.strip()[:200])
        record_audit_event(actor=actor, action=InsuranceAudit.REASON_CODE_ADDED, obj=reason, detail={"code": code})
    return reason


def submit_pending_claims() -> int:
    """Batch every institution's draft claims per period (run by Celery beat)."""
    pending = Claim.objects.filter(status=ClaimStatus.DRAFT).values_list("institution_id", "period", "scheme_id").distinct()
    made = 0
    closed = {(i, p) for i, p, scheme_id in pending if is_period_closed(i, p, scheme_id=scheme_id)}
    for institution_id, period in sorted({(i, p) for i, p, _scheme in pending}):
        if (institution_id, period) in closed:
            continue
        made += len(submit_claims(institution=Institution.objects.get(pk=institution_id), period=period, actor=SYSTEM))
    return made


class AdjudicationErrors(Unprocessable):
    """The bulk adjudication was refused; ``errors`` names each result by ``results.<index>.<field>``."""

    code = "adjudication_refused"

    def __init__(self, errors: list[dict]):
        super().__init__(
            _("The adjudication results were refused; nothing was recorded."),
            errors=[
                {"field": f"results.{e['index']}.{e['field']}", "message": e["reason"], "code": e.get("code", self.code)}
                for e in errors
            ],
        )


@dataclass(frozen=True)
class LineDecision:
    """The office's decision on one claim line: the approved part of its claimed payment, and why less."""

    sequence: int
    approved_amount: Decimal
    reason_code: str = ""


@dataclass(frozen=True)
class Adjudication:
    """A decision on a claim: its outcome (derived from ``lines`` when they are given) and reasons.

    Lines not named in ``lines`` are approved at their claimed payment; the claim's approved amount
    is the sum of its lines'. Without ``lines`` the claim-level amount is spread over the lines in
    proportion to their claimed payment (to the fen, summing exactly).
    """

    claim_number: str
    outcome: str | None
    approved_amount: Decimal | None
    reason_codes: list[str]
    lines: tuple[LineDecision, ...] = ()


def _line_errors(index: int, claim: Claim, decision: Adjudication, known: set[str], errors: list) -> dict | None:
    """The approved amount and reason code of each line, or None (with ``errors`` added) if any is wrong."""
    lines = {line.sequence: line for line in claim.lines.all()}
    decided: dict[int, tuple[Decimal, str]] = {}
    ok = True
    for position, line_decision in enumerate(decision.lines):
        field = f"lines.{position}"
        line = lines.get(line_decision.sequence)
        if line is None:
            errors.append({"index": index, "field": f"{field}.sequence", "reason": _("The claim has no such line.")})
            ok = False
            continue
        if line_decision.sequence in decided:
            errors.append({"index": index, "field": f"{field}.sequence", "reason": _("This line appears twice.")})
            ok = False
            continue
        amount = line_decision.approved_amount
        if not (ZERO <= amount <= line.payable):
            errors.append(
                {
                    "index": index,
                    "field": f"{field}.approved_amount",
                    "reason": _("The approved amount must be from 0 to the line's claimed %(amount)s.")
                    % {"amount": line.payable},
                }
            )
            ok = False
        code = line_decision.reason_code.strip()
        if amount < line.payable and not code:
            errors.append(
                {
                    "index": index,
                    "field": f"{field}.reason_code",
                    "reason": _("A line approved below its claim needs a reason code."),
                }
            )
            ok = False
        elif code and code not in known:
            errors.append(
                {
                    "index": index,
                    "field": f"{field}.reason_code",
                    "reason": _("%(code)s is not a reason code of the value set.") % {"code": code},
                    "code": "unknown_reason_code",
                }
            )
            ok = False
        decided[line_decision.sequence] = (amount, code)
    if not ok:
        return None
    return {sequence: decided.get(sequence, (line.payable, "")) for sequence, line in lines.items()}


def _outcome_of(approved: Decimal, claimed: Decimal) -> str:
    if approved == claimed:
        return ClaimStatus.APPROVED
    if approved == ZERO:
        return ClaimStatus.REJECTED
    return ClaimStatus.PARTLY_APPROVED


def adjudicate_claims(*, claims_queryset, decisions: list[Adjudication], actor) -> list[Claim]:
    """Record adjudication results in bulk, all or nothing; errors carry the item index and field.

    ``claims_queryset`` is already scoped to what the caller may adjudicate. An approved amount
    below the calculated one gives back the difference to the patient's annual ceiling; a
    rejection gives back the deductible and the reimbursement too. Reason codes must be codes of
    the value set (``ReasonCode``: the platform's and the acting office's own). A claim under
    appeal is adjudicated the same way; the decision closes its appeal.
    """
    if not can_anywhere(actor, Action.ADJUDICATE_CLAIMS):
        raise NotPermitted
    errors = []
    known = selectors.usable_reason_codes(actor)
    with transaction.atomic():
        numbers = [d.claim_number for d in decisions]
        locked = claims_queryset.select_for_update(of=("self",)).filter(number__in=numbers).prefetch_related("lines")
        # The caller scoped the queryset; the service checks again and treats the rest as unknown.
        claims = {c.number: c for c in locked if can(actor, Action.ADJUDICATE_CLAIMS, c.institution_id)}
        seen = set()
        plans = {}
        for index, decision in enumerate(decisions):
            claim = claims.get(decision.claim_number)
            if decision.claim_number in seen:
                errors.append({"index": index, "field": "claim_number", "reason": _("This claim appears twice in the request.")})
            seen.add(decision.claim_number)
            if claim is None:
                errors.append({"index": index, "field": "claim_number", "reason": _("No such claim.")})
                continue
            for position, code in enumerate(decision.reason_codes):
                if code not in known:
                    errors.append(
                        {
                            "index": index,
                            "field": f"reason_codes.{position}",
                            "reason": _("%(code)s is not a reason code of the value set.") % {"code": code},
                            "code": "unknown_reason_code",
                        }
                    )
            outcome = decision.outcome
            line_plan = None
            if decision.lines:
                line_plan = _line_errors(index, claim, decision, known, errors)
                if line_plan is None:
                    continue
                derived = _outcome_of(sum((a for a, _c in line_plan.values()), ZERO), claim.reimbursed)
                if outcome not in (None, "", derived):
                    errors.append(
                        {
                            "index": index,
                            "field": "outcome",
                            "reason": _("The lines add up to the outcome %(derived)s, not %(outcome)s.")
                            % {"derived": derived, "outcome": outcome},
                        }
                    )
                    continue
                outcome = derived
            elif not outcome:
                errors.append({"index": index, "field": "outcome", "reason": _("Give an outcome or the claim's lines.")})
                continue
            if outcome not in CLAIM_TRANSITIONS.get(claim.status, ()) or outcome not in ADJUDICATED:
                errors.append(
                    {
                        "index": index,
                        "field": "outcome",
                        "reason": _("The claim is %(status)s and cannot be adjudicated.") % {"status": claim.status},
                    }
                )
                continue
            if outcome == ClaimStatus.PARTLY_APPROVED and line_plan is None:
                if decision.approved_amount is None:
                    errors.append(
                        {"index": index, "field": "approved_amount", "reason": _("A partial approval needs an amount.")}
                    )
                elif not (ZERO <= decision.approved_amount < claim.reimbursed):
                    errors.append(
                        {
                            "index": index,
                            "field": "approved_amount",
                            "reason": _("The approved amount must be at least 0 and below the claimed %(amount)s.")
                            % {"amount": claim.reimbursed},
                        }
                    )
            line_codes = [code for _a, code in (line_plan or {}).values() if code]
            if outcome in (ClaimStatus.PARTLY_APPROVED, ClaimStatus.REJECTED) and not (decision.reason_codes or line_codes):
                errors.append({"index": index, "field": "reason_codes", "reason": _("Give at least one reason code.")})
            plans[decision.claim_number] = (outcome, line_plan)
        if errors:
            raise AdjudicationErrors(errors)
        now = timezone.now()
        done = []
        for decision in decisions:
            claim = claims[decision.claim_number]
            outcome, line_plan = plans[decision.claim_number]
            lines = list(claim.lines.all())
            if line_plan is not None:
                approved = sum((a for a, _c in line_plan.values()), ZERO)
            elif outcome == ClaimStatus.APPROVED:
                approved = claim.reimbursed
            elif outcome == ClaimStatus.REJECTED:
                approved = ZERO
            else:
                approved = decision.approved_amount
            if line_plan is None:
                shares = allocate(max(approved, ZERO), [line.payable for line in lines])
                first_code = decision.reason_codes[0] if decision.reason_codes else ""
                line_plan = {
                    line.sequence: (share, first_code if share < line.payable else "")
                    for line, share in zip(lines, shares, strict=True)
                }
            for line in lines:
                line.approved_amount, line.reason_code = line_plan[line.sequence]
            ClaimLine.objects.bulk_update(lines, ["approved_amount", "reason_code"])
            reason_codes = list(dict.fromkeys([*decision.reason_codes, *(code for _a, code in line_plan.values() if code)]))
            give_back = claim.reimbursed - approved
            if claim.kind == ClaimKind.ORIGINAL and (give_back or outcome == ClaimStatus.REJECTED):
                accumulator = _locked_accumulator(claim.patient_id, claim.scheme_id, int(claim.period[:4]))
                rejected = outcome == ClaimStatus.REJECTED
                _accumulate(accumulator, claim, sign=-1, basic=give_back, deductible=rejected, layers=rejected)
                accumulator.save(update_fields=ACCUMULATOR_FIELDS)
            appealed = claim.status == ClaimStatus.APPEALED
            claim.status = outcome
            claim.approved_amount = approved
            claim.reason_codes = reason_codes
            claim.adjudicated_at = now
            claim.updated_at = now
            claim.save(update_fields=["status", "approved_amount", "reason_codes", "adjudicated_at", "updated_at"])
            if appealed:
                ClaimAppeal.objects.filter(claim=claim, decided_at__isnull=True).update(
                    decided_at=now, decided_status=outcome, decided_amount=approved
                )
            record_audit_event(
                actor=actor,
                action=InsuranceAudit.CLAIM_ADJUDICATED,
                obj=claim,
                institution=claim.institution,
                detail={"outcome": outcome, "approved": str(approved), "reasons": reason_codes, "appeal": appealed},
            )
            record_outbox_event(
                event_type=OutboxEventType.CLAIM,
                obj=claim,
                patient_id=claim.patient_id,
                institution=claim.institution,
                payload={"number": claim.number, "status": claim.status, "approved_amount": str(approved)},
            )
            done.append(claim)
        batch_ids = {c.batch_id for c in done if c.batch_id}
        for batch in ClaimBatch.objects.select_for_update().filter(pk__in=batch_ids):
            if not batch.claims.filter(status__in=[ClaimStatus.SUBMITTED, ClaimStatus.APPEALED]).exists():
                batch.status = BatchStatus.ADJUDICATED
                batch.save(update_fields=["status"])
    return done


def appeal_adjudication(*, claim: Claim, actor, reason: str) -> ClaimAppeal:
    """Put an adjudicated claim back for a new decision: the institution's appeal or the office's reopen.

    The institution (whoever may create its claims, its HIS too) appeals; the insurance office that
    may adjudicate the claim reopens. Either way the claim goes under appeal, the decision set aside
    is kept on the appeal, what the decision gave back to the patient's year is taken up again (so
    the next decision starts from the claim as submitted), and the office adjudicates it again.
    Only an adjudicated claim not yet settled can be appealed: once paid, a correction is a reversal.
    """
    if actor is None:
        raise NotPermitted
    office = selectors.office_of(actor) if actor is not SYSTEM else None
    kind = AppealKind.REOPEN if actor is SYSTEM or office is not None else AppealKind.APPEAL
    require(actor, Action.ADJUDICATE_CLAIMS if kind == AppealKind.REOPEN else Action.CREATE_CLAIM, claim.institution_id)
    if office is not None and not OfficeScheme.objects.filter(office=office, scheme_id=claim.scheme_id).exists():
        raise NotPermitted(_("Only an office administering the claim's scheme may reopen its adjudication."))
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(_("Give a reason for the appeal."), field="reason", code="required")
    with transaction.atomic():
        claim = Claim.objects.select_for_update(of=("self",)).select_related("batch").get(pk=claim.pk)
        if claim.kind != ClaimKind.ORIGINAL:
            raise IllegalTransition(_("A reversal claim cannot be appealed."), field="claim")
        _check_transition(CLAIM_TRANSITIONS, claim.status, ClaimStatus.APPEALED)
        _require_open_period(claim.institution_id, claim.period, scheme_id=claim.scheme_id)
        approved = claim.approved_amount if claim.approved_amount is not None else claim.reimbursed
        give_back = claim.reimbursed - approved
        if give_back or claim.status == ClaimStatus.REJECTED:
            accumulator = _locked_accumulator(claim.patient_id, claim.scheme_id, int(claim.period[:4]))
            rejected = claim.status == ClaimStatus.REJECTED
            _accumulate(accumulator, claim, sign=1, basic=give_back, deductible=rejected, layers=rejected)
            accumulator.save(update_fields=ACCUMULATOR_FIELDS)
        now = timezone.now()
        appeal = ClaimAppeal.objects.create(
            claim=claim,
            kind=kind,
            reason=reason[:2000],
            previous_status=claim.status,
            previous_approved_amount=claim.approved_amount,
            previous_reason_codes=claim.reason_codes,
            opened_at=now,
            opened_by=actor if getattr(actor, "pk", None) else None,
        )
        ClaimLine.objects.filter(claim=claim).update(approved_amount=None, reason_code="")
        previous = claim.status
        claim.status = ClaimStatus.APPEALED
        claim.approved_amount = None
        claim.reason_codes = []
        claim.adjudicated_at = None
        claim.updated_at = now
        claim.save(update_fields=["status", "approved_amount", "reason_codes", "adjudicated_at", "updated_at"])
        if claim.batch is not None and claim.batch.status == BatchStatus.ADJUDICATED:
            ClaimBatch.objects.filter(pk=claim.batch_id).update(status=BatchStatus.SUBMITTED)
        record_audit_event(
            actor=actor,
            action=InsuranceAudit.CLAIM_REOPENED if kind == AppealKind.REOPEN else InsuranceAudit.CLAIM_APPEALED,
            obj=claim,
            institution=claim.institution,
            detail={
                "number": claim.number,
                "previous_status": previous,
                "previous_approved": None if appeal.previous_approved_amount is None else str(appeal.previous_approved_amount),
                "reason": reason[:200],
            },
        )
        record_outbox_event(
            event_type=OutboxEventType.CLAIM,
            obj=claim,
            patient_id=claim.patient_id,
            institution=claim.institution,
            payload={"number": claim.number, "status": claim.status, "appeal": kind},
        )
    return appeal


def reverse_claim(*, claim: Claim, actor, reason: str) -> Claim:
    """Cancel a claim by a reversal claim with negated amounts; the original is left as it was."""
    require(actor, Action.CREATE_CLAIM, claim.institution_id)
    with transaction.atomic():
        claim = Claim.objects.select_for_update().get(pk=claim.pk)
        if claim.kind != ClaimKind.ORIGINAL or claim.status not in REVERSIBLE:
            raise IllegalTransition(_("Only an adjudicated or settled claim can be reversed."), field="claim")
        if Claim.objects.filter(reverses=claim).exists():
            raise Conflict(_("This claim is already reversed."), field="claim", code="already_reversed")
        if not reason.strip():
            raise Invalid(_("Give a reason for the reversal."), field="reason", code="required")
        period = period_of(timezone.now())
        _require_open_period(claim.institution_id, period, scheme_id=claim.scheme_id)
        paid = claim.expected_payment
        accumulator = _locked_accumulator(claim.patient_id, claim.scheme_id, int(claim.period[:4]))
        if claim.status != ClaimStatus.REJECTED:
            _accumulate(accumulator, claim, sign=-1, basic=paid, deductible=True, layers=True)
            accumulator.save(update_fields=ACCUMULATOR_FIELDS)
        reversal = Claim.objects.create(
            number=f"{claim.number}-R",
            kind=ClaimKind.REVERSAL,
            encounter_id=claim.encounter_id,
            patient_id=claim.patient_id,
            institution_id=claim.institution_id,
            scheme_id=claim.scheme_id,
            policy_id=claim.policy_id,
            insurance_number=claim.insurance_number,
            period=period,
            reverses=claim,
            level=claim.level,
            referred=claim.referred,
            upward=claim.upward,
            total=-claim.total,
            eligible=-claim.eligible,
            deductible_applied=-claim.deductible_applied,
            ratio=claim.ratio,
            reimbursed=-paid if claim.status != ClaimStatus.REJECTED else ZERO,
            self_pay=-(claim.total - paid) if claim.status != ClaimStatus.REJECTED else -claim.total,
            benefit=claim.benefit,
            out_of_county=claim.out_of_county,
            illness_paid=-claim.illness_paid if claim.status != ClaimStatus.REJECTED else ZERO,
            assistance_paid=-claim.assistance_paid if claim.status != ClaimStatus.REJECTED else ZERO,
            patient_pays=-(claim.total - paid - claim.illness_paid - claim.assistance_paid)
            if claim.status != ClaimStatus.REJECTED
            else -claim.total,
            steps=[{"key": "reversal_of", "amount": claim.number}],
            reason_codes=[reason.strip()[:64]],
        )
        record_audit_event(
            actor=actor,
            action=InsuranceAudit.CLAIM_REVERSED,
            obj=reversal,
            institution=claim.institution,
            detail={"reverses": claim.number},
        )
        record_outbox_event(
            event_type=OutboxEventType.CLAIM,
            obj=reversal,
            patient_id=claim.patient_id,
            institution=claim.institution,
            payload={"number": reversal.number, "reverses": claim.number},
        )
    return reversal


def correct_claim(*, claim: Claim, actor, reason: str) -> tuple[Claim, Claim]:
    """A correction: reverse the claim, then calculate a new one from the encounter as it is now."""
    with transaction.atomic():
        reversal = reverse_claim(claim=claim, actor=actor, reason=reason)
        replacement = create_claim(encounter=claim.encounter, actor=actor, replaces=claim)
    return reversal, replacement


def readjudicate_claims(*, claims, actor, reason: str) -> list[tuple[Claim, Claim]]:
    """Recompute claims under the policy now in force: the one explicit, audited way old claims change.

    Publishing a new policy version never touches a claim. This action reverses each given claim
    (an adjudicated or settled original that no reversal cancels) and calculates a new one from its
    visit, all in one transaction: first every reversal, then the new claims in the order of their
    visits, so the year's accumulators replay as if the claims had come in under the new numbers.
    Refused whole, naming the claim, if any one cannot be re-adjudicated.
    """
    if not reason.strip():
        raise Invalid(_("Give a reason for the re-adjudication."), field="reason", code="reason_required")
    with transaction.atomic():
        chosen = list(
            Claim.objects.select_for_update(of=("self",))
            .select_related("encounter", "institution")
            .filter(pk__in=[c.pk for c in claims])
            .order_by("encounter__started_at", "pk")
        )
        for claim in chosen:
            require(actor, Action.ADJUDICATE_CLAIMS, claim.institution)
            if claim.kind != ClaimKind.ORIGINAL or claim.status not in REVERSIBLE or hasattr(claim, "reversal"):
                raise Invalid(
                    _("Claim %(number)s is not an adjudicated claim in effect.") % {"number": claim.number},
                    field="claims",
                    code="not_readjudicable",
                )
        # the adjudication right checked above covers the reversal and the new claim, which the
        # platform writes on the actor's behalf (the audit event below names the actor)
        reversals = [reverse_claim(claim=claim, actor=SYSTEM, reason=reason) for claim in chosen]
        pairs = []
        for claim, _reversal in zip(chosen, reversals, strict=True):
            replacement = create_claim(encounter=claim.encounter, actor=SYSTEM, replaces=claim)
            pairs.append((claim, replacement))
        for claim, replacement in pairs:
            record_audit_event(
                actor=actor,
                action=InsuranceAudit.CLAIM_READJUDICATED,
                obj=replacement,
                institution=claim.institution,
                detail={
                    "replaces": claim.number,
                    "policy_version": replacement.policy.version,
                    "reimbursed_before": str(claim.expected_payment),
                    "reimbursed_after": str(replacement.reimbursed),
                    "reason": reason.strip()[:200],
                },
            )
    return pairs


# --- settlement and reconciliation ----------------------------------------------------------------


def _acting_office(actor, office=None):
    """The insurance office ``actor`` acts for (``office`` itself for the platform's own runs).

    Runs, discrepancies and closes belong to the office that made them: an actor of another
    office, or no office at all, is refused.
    """
    if actor is SYSTEM and office is not None:
        return office
    own = selectors.office_of(actor)
    if own is None or (office is not None and own.pk != office.pk):
        raise NotPermitted(_("Only the insurance office that owns this reconciliation may do this."))
    return own


def store_settlement_file(
    *,
    office,
    period: str,
    upload,
    file_name: str,
    encoding: str,
    actor,
    control_total: Decimal | None = None,
    control_count: int | None = None,
) -> SettlementFile:
    """Parse and stage a settlement file in one transaction; any bad line refuses the whole file.

    Refused as well (409, nothing stored): the same bytes again (code ``duplicate_file``, naming the
    stored file), and a file with lines for an institution whose period the office has closed
    (``period_closed``, naming the institutions).
    """
    from .settlement import parse_settlement_file, stage_settlement_file

    if actor is not SYSTEM and (office is None or selectors.office_of(actor) != office):
        raise NotPermitted(_("Only the insurance office itself can upload its settlement files."))

    # Decode and validate before the transaction: the write lock is held for the writes only.
    parsed = parse_settlement_file(office=office, upload=upload, file_name=file_name, encoding=encoding)
    with closing(parsed), transaction.atomic():
        settlement = stage_settlement_file(
            office=office,
            period=period,
            upload=upload,
            file_name=file_name,
            encoding=encoding,
            api_client=getattr(actor, "api_client", None),
            control_total=control_total,
            control_count=control_count,
            parsed=parsed,
        )
        existing = (
            SettlementFile.objects.filter(office=office, sha256=settlement.sha256)
            .exclude(pk=settlement.pk)
            .order_by("pk")
            .first()
        )
        if existing is not None:
            raise Conflict(
                _("This file was uploaded before (file %(id)s); nothing was stored again.") % {"id": existing.pk},
                field="file",
                code="duplicate_file",
                extra={"existing_file": existing.pk},
            )
        codes = settlement.lines.values("institution_code").distinct()
        closed = sorted(
            PeriodClose.objects.filter(office=office, period=period, institution__code__in=codes).values_list(
                "institution__code", flat=True
            )
        )
        if closed:
            raise Conflict(
                _("The period %(period)s is closed for %(codes)s; reopen it before uploading a file for it.")
                % {"period": period, "codes": ", ".join(closed)},
                field="period",
                code="period_closed",
                extra={"closed_institutions": closed},
            )
        record_audit_event(
            actor=actor,
            action=InsuranceAudit.SETTLEMENT_UPLOADED,
            obj=settlement,
            detail={
                "period": period,
                "lines": settlement.line_count,
                "sha256": settlement.sha256,
                "control_total": None if control_total is None else str(control_total),
                "control_count": control_count,
            },
        )
    return settlement


def run_reconciliation(
    *, settlement_file: SettlementFile, institution: Institution, actor, settle_claims: bool = True
) -> ReconciliationRun:
    """Classify the file's lines for one institution against its claims of the file's period, set-based.

    With ``settle_claims`` (the default) the claims move on in the same transaction: matched ones
    become reconciled, paid ones with a different amount settled. The benchmark times that step apart.

    The run belongs to the file's office: only that office (or the platform's scheduled run)
    starts it, and it supersedes only that office's earlier runs of the institution and period.
    """
    require(actor, Action.RESOLVE_RECONCILIATION, institution)
    office = _acting_office(actor, settlement_file.office)
    period = settlement_file.period
    with transaction.atomic():
        Institution.objects.select_for_update().get(pk=institution.pk)
        _require_open_period(institution.pk, period, office=office)
        previous = ReconciliationRun.objects.filter(office=office, institution=institution, period=period)
        Discrepancy.objects.filter(run__in=previous, status=DiscrepancyStatus.OPEN).update(
            status=DiscrepancyStatus.RESOLVED, note=_("Superseded by a later reconciliation run."), updated_at=timezone.now()
        )
        run = ReconciliationRun.objects.create(
            office=settlement_file.office, institution=institution, period=period, settlement_file=settlement_file
        )
        reconciliation.classify(run)
        if settle_claims:
            reconciliation.apply_claim_statuses(run)
        run.status = RunStatus.FINISHED
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "finished_at"])
        totals = {row["kind"]: row["n"] for row in run.discrepancies.values("kind").annotate(n=Count("pk"))}
        record_audit_event(
            actor=actor,
            action=InsuranceAudit.RECONCILIATION_RUN,
            obj=run,
            institution=institution,
            detail={"period": period, "counts": totals},
        )
    return run


def update_discrepancy(*, discrepancy: Discrepancy, status: str, note: str, actor) -> Discrepancy:
    """Explain, resolve or reopen a discrepancy (``discrepancy_action`` says who may make the move).

    The institution's staff may explain (and withdraw an explanation); resolving, and reopening a
    resolved one, is for the office that ran the reconciliation. Another office never touches it.
    """
    with transaction.atomic():
        discrepancy = Discrepancy.objects.select_for_update().select_related("run").get(pk=discrepancy.pk)
        run = discrepancy.run
        action = discrepancy_action(discrepancy.status, status)
        require(actor, action, run.institution_id)
        acting = selectors.office_of(actor) if actor is not SYSTEM else None
        if (action == Action.RESOLVE_RECONCILIATION or acting is not None) and actor is not SYSTEM:
            _acting_office(actor, run.office)
        _require_open_period(run.institution_id, run.period, office=run.office)
        if status != discrepancy.status:
            _check_transition(DISCREPANCY_TRANSITIONS, discrepancy.status, status)
        if status in (DiscrepancyStatus.EXPLAINED, DiscrepancyStatus.RESOLVED) and not note.strip():
            raise Invalid(_("Write a note saying why."), field="note", code="required")
        discrepancy.status = status
        discrepancy.note = note.strip()
        discrepancy.updated_at = timezone.now()
        discrepancy.updated_by = actor if getattr(actor, "pk", None) else None
        discrepancy.save(update_fields=["status", "note", "updated_at", "updated_by"])
        record_audit_event(
            actor=actor,
            action=InsuranceAudit.DISCREPANCY_UPDATED,
            obj=discrepancy,
            institution=discrepancy.run.institution,
            detail={"status": status, "kind": discrepancy.kind},
        )
    return discrepancy


def close_period(*, institution: Institution, period: str, actor, office=None) -> PeriodClose:
    """Close the acting office's reconciled period of an institution.

    Refused (409) while nothing was reconciled, while a claim of the period in the office's schemes
    is not adjudicated yet (``claims_not_adjudicated``, listing them), or while a discrepancy of the
    office's runs is open. Other offices' runs and closes of the same period are not looked at.
    """
    require(actor, Action.RESOLVE_RECONCILIATION, institution)
    office = _acting_office(actor, office)
    with transaction.atomic():
        Institution.objects.select_for_update().get(pk=institution.pk)
        _require_open_period(institution.pk, period, office=office)
        runs = ReconciliationRun.objects.filter(office=office, institution=institution, period=period, status=RunStatus.FINISHED)
        if not runs.exists():
            raise Conflict(_("Nothing has been reconciled for this period yet."), field="period", code="period_not_reconciled")
        waiting = list(
            Claim.objects.filter(
                institution=institution,
                period=period,
                scheme__in=OfficeScheme.objects.filter(office=office).values("scheme_id"),
                status__in=sorted(AWAITING_ADJUDICATION),
            )
            .order_by("number")
            .values_list("number", flat=True)[: MAX_LISTED + 1]
        )
        if waiting:
            count = len(waiting) if len(waiting) <= MAX_LISTED else _unadjudicated_count(institution, period, office)
            raise Conflict(
                _("%(count)s claims of this period are not adjudicated yet; adjudicate them first.") % {"count": count},
                field="period",
                code="claims_not_adjudicated",
                extra={"unadjudicated_claims": waiting[:MAX_LISTED], "unadjudicated_count": count},
            )
        open_count = Discrepancy.objects.filter(run__in=runs, status=DiscrepancyStatus.OPEN).count()
        if open_count:
            raise Conflict(
                _("%(count)s discrepancies are still open; explain or resolve them first.") % {"count": open_count},
                field="period",
                code="discrepancies_open",
                extra={"open_discrepancies": open_count},
            )
        try:
            with transaction.atomic():
                closed = PeriodClose.objects.create(
                    office=office, institution=institution, period=period, closed_by=actor if getattr(actor, "pk", None) else None
                )
        except IntegrityError:
            raise Conflict(
                _("The period %(period)s is closed for this institution.") % {"period": period},
                field="period",
                code="period_closed",
            ) from None
        totals = Discrepancy.objects.filter(run__in=runs).aggregate(paid=Sum("paid_amount"), expected=Sum("expected_amount"))
        record_audit_event(
            actor=actor,
            action=InsuranceAudit.PERIOD_CLOSED,
            obj=closed,
            institution=institution,
            detail={
                "period": period,
                "office": office.pk,
                "paid": str(totals["paid"] or ZERO),
                "expected": str(totals["expected"] or ZERO),
            },
        )
    return closed


#: At most this many claim numbers are listed in a refusal; the count says how many there are.
MAX_LISTED = 100


def _unadjudicated_count(institution, period, office) -> int:
    return Claim.objects.filter(
        institution=institution,
        period=period,
        scheme__in=OfficeScheme.objects.filter(office=office).values("scheme_id"),
        status__in=sorted(AWAITING_ADJUDICATION),
    ).count()


def reopen_period(*, institution: Institution, period: str, actor, reason: str, office=None) -> None:
    """Reopen the acting office's closed period of an institution, with a reason, audited."""
    require(actor, Action.RESOLVE_RECONCILIATION, institution)
    office = _acting_office(actor, office)
    if not reason.strip():
        raise Invalid(_("Give a reason for reopening the period."), field="reason", code="required")
    with transaction.atomic():
        Institution.objects.select_for_update().get(pk=institution.pk)
        closed = PeriodClose.objects.select_for_update().filter(office=office, institution=institution, period=period).first()
        if closed is None:
            raise Conflict(
                _("The period %(period)s is not closed for this institution.") % {"period": period},
                field="period",
                code="period_not_closed",
            )
        record_audit_event(
            actor=actor,
            action=InsuranceAudit.PERIOD_REOPENED,
            obj=closed,
            institution=institution,
            detail={"period": period, "office": office.pk, "reason": reason.strip(), "closed_at": closed.closed_at.isoformat()},
        )
        closed.delete()
