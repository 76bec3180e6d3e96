"""Web pages: the equalization dashboard with CSV exports, fund transparency and expenditure warnings."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from consortium import csv_export
from consortium.forms import apply_service_error
from consortium.permissions import Action, can_anywhere, get_scoped_or_404, institution_ids_for
from consortium.routing import reads_from_replica
from records.access import log_denied_access, log_patient_access
from records.list_access import audited_list, note_listed
from records.models import AccessReason, Patient, PurposeOfUse

from . import scorecard as county
from . import selectors, services
from .charts import CHARTS, CHARTS_BY_CODE
from .forms import DashboardFilterForm, HouseholdForm, PeriodForm, default_period
from .models import HouseholdEconomics, WarningStatus


def _filters(request):
    if not can_anywhere(request.user, Action.VIEW_DASHBOARD):
        raise PermissionDenied
    scopes = selectors.scopes_visible_to(request.user)
    return DashboardFilterForm(_with_defaults(request.GET, scope=scopes[0].value if scopes else ""), scopes=scopes)


def _with_defaults(query, **extra):
    """The filters as sent, with the default period (and scope) filled in so that the form shows them."""
    first, last = default_period()
    data = query.copy()
    for name, value in {"start": f"{first:%Y-%m}", "end": f"{last:%Y-%m}", **extra}.items():
        if not data.get(name):
            data[name] = value
    return data


@login_required
@reads_from_replica
def dashboard(request):
    form = _filters(request)
    if not form.is_valid():
        return render(request, "dashboard/dashboard.html", {"form": form, "charts": []}, status=400)
    scope, first, last = form.cleaned_data["scope"], form.cleaned_data["start"], form.cleaned_data["end"]
    charts = selectors.charts_data(CHARTS, scope.kind, scope.id, first, last)
    query = f"scope={scope.value}&start={first:%Y-%m}&end={last:%Y-%m}"
    return render(request, "dashboard/dashboard.html", {"form": form, "charts": charts, "scope": scope, "query": query})


@login_required
@reads_from_replica
def chart_csv(request, code: str):
    chart = CHARTS_BY_CODE.get(code)
    if chart is None:
        raise Http404
    form = _filters(request)
    if not form.is_valid():
        return HttpResponse("\n".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()), status=400)
    scope, first, last = form.cleaned_data["scope"], form.cleaned_data["start"], form.cleaned_data["end"]
    data = selectors.chart_data(chart, scope.kind, scope.id, first, last)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{code}-{scope.kind}-{scope.id}-{first:%Y%m}-{last:%Y%m}.csv"'
    response.write("\ufeff")  # Excel opens UTF-8 Chinese text correctly only with a BOM
    writer = csv_export.writer(response)
    writer.writerow([_("Month"), _("Indicator"), _("Code"), _("Value"), _("Numerator"), _("Denominator"), _("Scope")])
    for series in data["series"]:
        for month, point in zip(data["months"], series["points"], strict=True):
            writer.writerow(
                [
                    month,
                    series["label"],
                    series["code"],
                    _blank(point["value"]),
                    _blank(point["numerator"]),
                    _blank(point["denominator"]),
                    scope.label,
                ]
            )
    return response


@login_required
@reads_from_replica
def scorecard(request):
    """The national monitoring indicators over the chosen period, with their definitions; CSV for the county report."""
    form = _filters(request)
    if not form.is_valid():
        return render(request, "dashboard/scorecard.html", {"form": form, "lines": []}, status=400)
    scope, first, last = form.cleaned_data["scope"], form.cleaned_data["start"], form.cleaned_data["end"]
    lines = county.scorecard(scope.kind, scope.id, first, last)
    if request.GET.get("format") == "csv":
        return _scorecard_csv(lines, scope, first, last)
    query = f"scope={scope.value}&start={first:%Y-%m}&end={last:%Y-%m}"
    context = {"form": form, "lines": lines, "scope": scope, "query": query, "first": first, "last": last}
    return render(request, "dashboard/scorecard.html", context)


UNIT_LABELS = {"percent": "%", "count": gettext_lazy("cases"), "yuan": gettext_lazy("yuan")}


def _scorecard_csv(lines, scope, first, last) -> HttpResponse:
    """The county report layout: one row per indicator, the period, numerator, denominator, value and the split."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="county-report-{scope.kind}-{scope.id}-{first:%Y%m}-{last:%Y%m}.csv"'
    response.write("\ufeff")
    writer = csv_export.writer(response)
    writer.writerow(
        [
            _("Reporting unit"),
            _("Reporting period"),
            _("Indicator"),
            _("Code"),
            _("Numerator"),
            _("Denominator"),
            _("Value"),
            _("Unit"),
            _("Rural residents"),
            _("Urban residents"),
            _("Definition"),
        ]
    )
    period = f"{first:%Y-%m}—{last:%Y-%m}"
    for line in lines:
        writer.writerow(
            [
                scope.label,
                period,
                line["label"],
                line["code"],
                _fixed(line["numerator"]),
                _fixed(line["denominator"]),
                _fixed(line["value"]),
                str(UNIT_LABELS.get(line["unit"], "")),
                _fixed(line["rural"]),
                _fixed(line["urban"]),
                line["definition"],
            ]
        )
    return response


def _fixed(value) -> str:
    """A scorecard figure as written: two decimals, blank when there is no data."""
    return "" if value is None else str(value)


def _blank(value) -> str:
    return "" if value is None else f"{value:g}"


@login_required
@reads_from_replica
def fund_transparency(request):
    if not can_anywhere(request.user, Action.VIEW_DASHBOARD):
        raise PermissionDenied
    form = PeriodForm(_with_defaults(request.GET))
    if not form.is_valid():
        return render(request, "dashboard/funds.html", {"form": form, "rows": []}, status=400)
    rows = selectors.fund_months_visible_to(request.user, form.cleaned_data["start"], form.cleaned_data["end"])
    if request.GET.get("format") == "csv":
        return _fund_csv(rows)
    query = f"start={form.cleaned_data['start']:%Y-%m}&end={form.cleaned_data['end']:%Y-%m}"
    return render(request, "dashboard/funds.html", {"form": form, "rows": rows, "query": query})


def _fund_csv(rows) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="fund-transparency.csv"'
    response.write("\ufeff")
    writer = csv_export.writer(response)
    writer.writerow(
        [
            _("Month"),
            _("Institution code"),
            _("Institution"),
            _("Claims"),
            _("Total charges"),
            _("Insurance spending"),
            _("Patient self-pay"),
            _("Settled by the insurer"),
            _("Reimbursement ratio"),
            _("Reconciliation results"),
            _("Matched"),
            _("Discrepancies"),
            _("Open discrepancies"),
        ]
    )
    for row in rows:
        writer.writerow(
            [
                f"{row.month:%Y-%m}",
                row.institution.code,
                row.institution.name,
                row.claims,
                row.total_charges,
                row.reimbursed,
                row.self_pay,
                row.settled,
                "" if row.reimbursement_ratio is None else row.reimbursement_ratio,
                row.reconciled_claims,
                row.matched,
                row.discrepancies,
                row.open_discrepancies,
            ]
        )
    return response


@login_required
@audited_list(PurposeOfUse.OPERATIONS)
@reads_from_replica
def warning_list(request):
    if not selectors.may_see_warnings(request.user):
        raise PermissionDenied
    status = request.GET.get("status", WarningStatus.OPEN)
    if status not in WarningStatus.values:
        status = WarningStatus.OPEN
    warnings = selectors.warnings_visible_to(request.user, status=status).order_by("-self_pay", "pk")
    page = Paginator(warnings, 50).get_page(request.GET.get("page"))
    readable = institution_ids_for(request.user, Action.VIEW_PATIENT)
    editable = institution_ids_for(request.user, Action.RECORD_ENCOUNTER)
    for warning in page.object_list:
        # The clinic a warning is flagged to must know whom to help; others see the numbers only.
        warning.named = readable is None or warning.patient.home_institution_id in readable or warning.institution_id in readable
        warning.editable = editable is None or warning.patient.home_institution_id in editable
    note_listed(warning.patient_id for warning in page.object_list if warning.named)  # the others show numbers only
    context = {
        "page": page,
        "status": status,
        "statuses": WarningStatus.choices,
        "can_view_dashboard": can_anywhere(request.user, Action.VIEW_DASHBOARD),
    }
    return render(request, "dashboard/warnings.html", context)


@login_required
def household(request, pk: int):
    """Record a patient's household income band (clinic staff of the patient's home institution).

    Opening the page is a read of the patient's record (its access log); a refused one is logged too."""
    try:
        patient = get_scoped_or_404(
            Patient.objects.select_related("home_institution"), request.user, Action.RECORD_ENCOUNTER, "home_institution", pk=pk
        )
    except Http404:
        refused = Patient.objects.filter(pk=pk).first()
        if refused is not None and request.method == "GET":
            log_denied_access(request.user, refused, request.path)
        raise
    if request.method == "GET":
        log_patient_access(request.user, patient, request.path, AccessReason.OWN_INSTITUTION)
    current = HouseholdEconomics.objects.filter(patient=patient).first()
    initial = {"income_band": current.income_band, "annual_income": current.annual_income} if current else {}
    form = HouseholdForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.record_household_economics(
                patient=patient,
                income_band=form.cleaned_data["income_band"],
                annual_income=form.cleaned_data["annual_income"],
                actor=request.user,
            )
        except DjangoValidationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(request, _("Household income recorded; it counts from the next nightly recomputation."))
            return redirect("dashboard:warnings")
    status = 400 if request.method == "POST" else 200
    return render(request, "dashboard/household.html", {"form": form, "patient": patient}, status=status)
