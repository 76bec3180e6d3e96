"""Web pages: claims (with the printable calculation) and the reconciliation review."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from consortium.documents import paper_size, print_context
from consortium.errors import ApplicationError
from consortium.forms import apply_service_error
from consortium.models import Institution
from consortium.permissions import Action, can, can_anywhere, get_scoped_or_404, scope
from records.list_access import audited_list, listed, note_listed
from records.models import PurposeOfUse

from . import documents, selectors, services
from .calculator import BENEFIT_LABELS, STEP_LABELS
from .forms import ClaimCreateForm, CorrectClaimForm, DiscrepancyForm, SubmitBatchForm
from .models import REVERSIBLE, ClaimStatus, Discrepancy, DiscrepancyKind, DiscrepancyStatus


@login_required
@audited_list(PurposeOfUse.PAYMENT)
def claim_list(request):
    if not can_anywhere(request.user, Action.VIEW_CLAIMS):
        raise PermissionDenied
    claims = selectors.claims_visible_to(request.user)
    status = request.GET.get("status", "")
    period = request.GET.get("period", "")
    if status in ClaimStatus.values:
        claims = claims.filter(status=status)
    if period:
        claims = claims.filter(period=period)
    page = Paginator(claims.order_by("-created_at", "-pk"), 50).get_page(request.GET.get("page"))
    listed(page.object_list)
    context = {"page": page, "statuses": ClaimStatus.choices, "status": status, "period": period}
    if can_anywhere(request.user, Action.CREATE_CLAIM):
        institutions = scope(Institution.objects.all(), request.user, Action.CREATE_CLAIM, field="pk")
        claimable = selectors.claimable_encounters(request.user)
        note_listed(claimable.values_list("patient_id", flat=True))  # the visits to claim name their patients
        context["create_form"] = ClaimCreateForm(encounters=claimable)
        context["submit_form"] = SubmitBatchForm(institutions=institutions)
    return render(request, "insurance/claim_list.html", context)


@login_required
@require_POST
def claim_create(request):
    form = ClaimCreateForm(request.POST, encounters=selectors.claimable_encounters(request.user))
    if form.is_valid():
        try:
            claim = services.create_claim(encounter=form.cleaned_data["encounter"], actor=request.user)
        except (DjangoValidationError, ApplicationError) as exc:
            apply_service_error(form, exc)
        else:
            messages.success(request, _("Claim %(number)s calculated.") % {"number": claim.number})
            return redirect("insurance:claim-detail", number=claim.number)
    return render(request, "insurance/form_errors.html", {"form": form, "title": _("Create a claim")}, status=400)


@login_required
@require_POST
def batch_submit(request):
    institutions = scope(Institution.objects.all(), request.user, Action.CREATE_CLAIM, field="pk")
    form = SubmitBatchForm(request.POST, institutions=institutions)
    if form.is_valid():
        try:
            batches = services.submit_claims(
                institution=form.cleaned_data["institution"], period=form.cleaned_data["period"], actor=request.user
            )
        except (DjangoValidationError, ApplicationError) as exc:
            apply_service_error(form, exc)
        else:
            if batches:
                messages.success(request, _("Submitted: %(batches)s.") % {"batches": ", ".join(b.number for b in batches)})
            else:
                messages.info(request, _("There were no draft claims to submit for that period."))
            return redirect("insurance:claim-list")
    return render(request, "insurance/form_errors.html", {"form": form, "title": _("Submit claims")}, status=400)


@login_required
def claim_detail(request, number):
    claim = get_scoped_or_404(selectors.claims_visible_to(request.user), request.user, Action.VIEW_CLAIMS, number=number)
    steps = [
        {
            "label": STEP_LABELS.get(step["key"], step["key"]),
            **step,
            **({"amount": BENEFIT_LABELS.get(step["amount"], step["amount"])} if step["key"] == "benefit" else {}),
        }
        for step in claim.steps
    ]
    context = {
        "claim": claim,
        "lines": claim.lines.all(),
        "steps": steps,
        "can_correct": can(request.user, Action.CREATE_CLAIM, claim.institution_id)
        and claim.status in REVERSIBLE
        and claim.kind == "original"
        and not hasattr(claim, "reversal"),
        "correct_form": CorrectClaimForm(),
    }
    return render(request, "insurance/claim_detail.html", context)


@login_required
def claim_statement(request, number):
    """The final statement for the patient: institution header, amounts, signature lines and a verification code."""
    claim = get_scoped_or_404(selectors.claims_visible_to(request.user), request.user, Action.VIEW_CLAIMS, number=number)
    context = {
        **print_context(request, documents.claim_statement(claim), obj=claim, institution=claim.institution),
        "claim": claim,
        "lines": claim.lines.all(),
        "issuer": claim.institution,
        "paper": paper_size(request, "a4"),
    }
    return render(request, "insurance/claim_statement.html", context)


@login_required
@require_POST
def claim_correct(request, number):
    claim = get_scoped_or_404(selectors.claims_visible_to(request.user), request.user, Action.CREATE_CLAIM, number=number)
    form = CorrectClaimForm(request.POST)
    if form.is_valid():
        try:
            _reversal, replacement = services.correct_claim(claim=claim, actor=request.user, reason=form.cleaned_data["reason"])
        except (DjangoValidationError, ApplicationError) as exc:
            apply_service_error(form, exc)
        else:
            messages.success(request, _("Claim reversed and recalculated as %(number)s.") % {"number": replacement.number})
            return redirect("insurance:claim-detail", number=replacement.number)
    return render(request, "insurance/form_errors.html", {"form": form, "title": _("Correct a claim")}, status=400)


@login_required
def reconciliation_list(request):
    if not can_anywhere(request.user, Action.REVIEW_RECONCILIATION):
        raise PermissionDenied
    runs = selectors.runs_visible_to(request.user)
    latest = selectors.latest_runs(runs)
    return render(
        request,
        "insurance/reconciliation_list.html",
        {"runs": runs[:100], "totals": selectors.institution_totals(latest)},
    )


@login_required
def reconciliation_detail(request, pk):
    run = get_scoped_or_404(selectors.runs_visible_to(request.user), request.user, Action.REVIEW_RECONCILIATION, pk=pk)
    kind = request.GET.get("kind", "")
    status = request.GET.get("status", "")
    discrepancies = selectors.discrepancies_of(
        run, kind=kind if kind in DiscrepancyKind.values else None, status=status if status in DiscrepancyStatus.values else None
    )
    page = Paginator(discrepancies, 50).get_page(request.GET.get("page"))
    closed = selectors.is_period_closed(run.institution_id, run.period, office=run.office)
    office = selectors.office_of(request.user)
    may_resolve = (
        office is not None and office.pk == run.office_id and can(request.user, Action.RESOLVE_RECONCILIATION, run.institution)
    )
    # The institution's staff explain; only the office that ran the reconciliation resolves.
    editable = (
        DiscrepancyStatus.choices if may_resolve else [c for c in DiscrepancyStatus.choices if c[0] != DiscrepancyStatus.RESOLVED]
    )
    return render(
        request,
        "insurance/reconciliation_detail.html",
        {
            "run": run,
            "totals": selectors.run_totals(run),
            "page": page,
            "kinds": DiscrepancyKind.choices,
            "statuses": DiscrepancyStatus.choices,
            "kind": kind,
            "status": status,
            "closed": closed,
            "may_resolve": may_resolve,
            "editable_statuses": editable,
            "form": DiscrepancyForm(),
        },
    )


@login_required
@require_POST
def discrepancy_update(request, pk):
    runs = selectors.runs_visible_to(request.user)
    discrepancy = get_scoped_or_404(
        Discrepancy.objects.filter(run__in=runs).select_related("run"),
        request.user,
        Action.REVIEW_RECONCILIATION,
        field="run__institution",
        pk=pk,
    )
    form = DiscrepancyForm(request.POST)
    if form.is_valid():
        try:
            services.update_discrepancy(discrepancy=discrepancy, actor=request.user, **form.cleaned_data)
        except (DjangoValidationError, ApplicationError) as exc:
            apply_service_error(form, exc)
        else:
            messages.success(request, _("Discrepancy updated."))
            return redirect("insurance:reconciliation-detail", pk=discrepancy.run_id)
    return render(request, "insurance/form_errors.html", {"form": form, "title": _("Update a discrepancy")}, status=400)


@login_required
@require_POST
def period_close(request, pk):
    run = get_scoped_or_404(selectors.runs_visible_to(request.user), request.user, Action.REVIEW_RECONCILIATION, pk=pk)
    try:
        services.close_period(institution=run.institution, period=run.period, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Period %(period)s closed.") % {"period": run.period})
    return redirect("insurance:reconciliation-detail", pk=run.pk)
