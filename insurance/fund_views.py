"""Web pages of the consortium fund: where the year stands, the ledger, the dry-run clearing, the actions.

The consortium administrator reads the page and freezes the performance scores; the insurance
officer of the fund's office posts prepayments, monthly settlements, the clearing and reversals.
The services decide who may do what; these views translate forms and errors.
"""

from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from consortium.errors import ApplicationError, Invalid, NotPermitted
from consortium.forms import apply_service_error
from consortium.permissions import Action, can

from . import fund_selectors, fund_services
from .fund_selectors import funds_visible_to, lead_institution
from .models import ConsortiumFund, FundEntry, OutOfCountyFile
from .out_of_county import COLUMNS, land_out_of_county_file
from .selectors import office_of

SIGN_LABELS = {
    "admissions_down_cost_up": _("Admissions are falling while the cost per admission rises."),
    "self_pay_up": _("The patients' share of the charges is rising (costs shifted to self-pay)."),
    "referrals_out_up": _("Referrals out of the consortium are rising."),
}


def _fund_or_404(user, pk) -> ConsortiumFund:
    for fund in funds_visible_to(user):
        if fund.pk == pk:
            return fund
    raise Http404


@login_required
def fund_list(request):
    funds = funds_visible_to(request.user)
    return render(request, "insurance/fund_list.html", {"funds": funds, "is_office": office_of(request.user) is not None})


@login_required
def fund_detail(request, pk):
    fund = _fund_or_404(request.user, pk)
    result, shares, snapshot = fund_services.preview_clearing(fund=fund, actor=request.user)
    members = {m.pk: m for m in fund_selectors.members_of(fund)}
    latest = fund_selectors.latest_provisional(fund)
    through = latest.period if latest is not None else f"{fund.year}-12"
    signals = fund_selectors.supervision_signals(fund, f"{fund.year}-12")
    lead = lead_institution(fund.consortium)
    context = {
        "fund": fund,
        "clearing": result,
        "snapshot": snapshot,
        "scores": {s.institution_id: s.score for s in snapshot.scores.all()} if snapshot else {},
        "split": [(members.get(k), v) for k, v in sorted(shares.items())],
        "members": list(members.values()),
        "paid_by_member": fund_selectors.member_paid(fund, through),
        "outside_paid": fund_selectors.outside_paid(fund, f"{fund.year}-12"),
        "latest": latest,
        "latest_members": [
            (members.get(int(k)), v) for k, v in sorted((latest.detail.get("members", {}) if latest else {}).items())
        ],
        "entries": fund_selectors.ledger(fund),
        "signals": signals,
        "sign_labels": [SIGN_LABELS[s] for s in signals["signs"]],
        "can_post": can(request.user, Action.ADJUDICATE_CLAIMS, lead),
        "can_freeze": can(request.user, Action.MANAGE_MEMBERSHIPS, lead),
        "months": [f"{fund.year}-{m:02d}" for m in range(1, 13)],
    }
    return render(request, "insurance/fund_detail.html", context)


def _amount(value: str) -> Decimal | None:
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError):
        return None


@login_required
@require_POST
def fund_action(request, pk, action):
    fund = _fund_or_404(request.user, pk)
    post = request.POST
    try:
        if action == "prepayment":
            amount = _amount(post.get("amount", ""))
            if amount is None:
                raise Invalid(_("Enter an amount in yuan, e.g. 100000.00."), field="amount", code="bad_amount")
            fund_services.post_prepayment(fund=fund, period=post.get("period", ""), amount=amount, actor=request.user)
            messages.success(request, _("Prepayment posted."))
        elif action == "settle":
            fund_services.settle_month(fund=fund, period=post.get("period", ""), actor=request.user)
            messages.success(request, _("Provisional settlement posted."))
        elif action == "clear":
            fund_services.clear_year(fund=fund, actor=request.user)
            messages.success(request, _("Year-end clearing posted."))
        elif action == "reverse":
            entry = FundEntry.objects.filter(fund=fund, pk=_amount(post.get("entry", "")) or 0).first()
            if entry is None:
                raise Invalid(_("No such ledger entry."), field="entry", code="no_entry")
            fund_services.reverse_fund_entry(entry=entry, actor=request.user, reason=post.get("reason", ""))
            messages.success(request, _("Entry reversed."))
        elif action == "freeze":
            scores = {}
            for member in fund_selectors.members_of(fund):
                raw = post.get(f"score-{member.pk}", "")
                scores[member.pk] = _amount(raw)
            fund_services.freeze_performance(fund=fund, scores=scores, actor=request.user, note=post.get("note", ""))
            messages.success(request, _("Performance scores frozen."))
        else:
            raise Http404
    except NotPermitted:
        raise
    except ApplicationError as error:
        details = "; ".join(f"{k}: {' '.join(v)}" for k, v in (error.errors or {}).items() if isinstance(v, list))
        messages.error(request, f"{error.message} {details}".strip())
    return redirect("insurance:fund-detail", pk=fund.pk)


class OutOfCountyUploadForm(forms.Form):
    file = forms.FileField(label=_("Settlement data of visits outside the county (CSV, UTF-8)"))


@login_required
def out_of_county(request):
    """The insurance officer's page: upload the office's out-of-county visits, see the files landed so far."""
    office = office_of(request.user)
    if office is None:
        raise PermissionDenied
    form = OutOfCountyUploadForm(request.POST or None, request.FILES or None)
    row_errors = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            landed = land_out_of_county_file(office=office, upload=upload.read(), file_name=upload.name, actor=request.user)
        except ApplicationError as error:
            row_errors = error.errors.get("rows", []) if isinstance(error.errors, dict) else []
            if row_errors:
                form.add_error("file", error.message)  # the rows are listed below the form, each with its field
            else:
                apply_service_error(form, error)
        else:
            messages.success(
                request,
                _("%(lines)s lines checked, %(new)s new visits landed (lines already landed are kept as they were).")
                % {"lines": landed.line_count, "new": landed.new_visits},
            )
            return redirect("insurance:out-of-county")
    context = {
        "form": form,
        "row_errors": row_errors,
        "files": OutOfCountyFile.objects.filter(office=office)[:50],
        "columns": ",".join(COLUMNS),
        "office": office,
    }
    return render(request, "insurance/out_of_county.html", context, status=400 if request.method == "POST" else 200)
