"""Web pages of the consortium domain: institutions, staff, memberships."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from . import documents, secondment_services, selectors
from .errors import ApplicationError
from .forms import apply_service_error
from .models import HOSPITAL_LEVELS, PRIMARY_LEVELS, Institution, Secondment
from .permissions import Action, can_anywhere, get_scoped_or_404, institution_ids_for


@login_required
def institution_list(request):
    institutions = selectors.institutions_visible_to(request.user)
    return render(request, "consortium/institution_list.html", {"institutions": institutions})


@login_required
def institution_detail(request, code):
    institution = get_scoped_or_404(Institution.objects.all(), request.user, Action.VIEW_INSTITUTION, field="pk", code=code)
    departments = institution.departments.all()
    return render(request, "consortium/institution_detail.html", {"institution": institution, "departments": departments})


@login_required
def institution_staff(request, code):
    institution = get_scoped_or_404(Institution.objects.all(), request.user, Action.VIEW_STAFF, field="pk", code=code)
    return render(
        request, "consortium/institution_staff.html", {"institution": institution, "staff_list": selectors.staff_at(institution)}
    )


@login_required
def membership_list(request):
    return render(request, "consortium/membership_list.html", {"memberships": selectors.memberships_visible_to(request.user)})


def verify_document(request, kind, number):
    """Public (no sign-in): does a printed copy match the record?  Shows a masked name only."""
    result = documents.verify(kind, number, request.GET.get("v"), request.GET.get("f", ""), request.GET.get("s", ""))
    response = render(request, "documents/verify.html", {"result": result})
    response["X-Robots-Tag"] = "noindex"
    return response


ISO_DATE = "%Y-%m-%d"  # what <input type="date"> takes, whatever the language


class SecondmentForm(forms.Form):
    physician_name = forms.CharField(label=gettext_lazy("Physician"), max_length=100)
    specialty = forms.CharField(label=gettext_lazy("Specialty"), max_length=100, required=False)
    from_institution = forms.ModelChoiceField(label=gettext_lazy("Seconded from"), queryset=Institution.objects.none())
    to_institution = forms.ModelChoiceField(label=gettext_lazy("Seconded to"), queryset=Institution.objects.none())
    starts_on = forms.DateField(label=gettext_lazy("Starts on"), widget=forms.DateInput(attrs={"type": "date"}, format=ISO_DATE))
    ends_on = forms.DateField(
        label=gettext_lazy("Ends on"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format=ISO_DATE)
    )

    def __init__(self, *args, institutions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from_institution"].queryset = institutions.filter(level__in=HOSPITAL_LEVELS)
        self.fields["to_institution"].queryset = institutions.filter(level__in=PRIMARY_LEVELS)


def _managed_institutions(user):
    ids = institution_ids_for(user, Action.MANAGE_MEMBERSHIPS)
    institutions = Institution.objects.order_by("code")
    return institutions if ids is None else institutions.filter(pk__in=ids)


@login_required
def secondment_list(request):
    """Physicians seconded from hospitals to primary-level members; the administrator records and ends them."""
    if not can_anywhere(request.user, Action.VIEW_MEMBERSHIPS):
        raise PermissionDenied
    may_manage = can_anywhere(request.user, Action.MANAGE_MEMBERSHIPS)
    form = SecondmentForm(
        request.POST or None, institutions=_managed_institutions(request.user), initial={"starts_on": timezone.localdate()}
    )
    if request.method == "POST":
        if not may_manage:
            raise PermissionDenied
        if form.is_valid():
            try:
                secondment_services.record_secondment(actor=request.user, **form.cleaned_data)
            except ApplicationError as error:
                apply_service_error(form, error)
            else:
                messages.success(request, _("Secondment recorded."))
                return redirect("secondment-list")
    context = {"secondments": selectors.secondments_visible_to(request.user), "form": form, "may_manage": may_manage}
    return render(request, "consortium/secondment_list.html", context, status=400 if request.method == "POST" else 200)


@login_required
@require_POST
def secondment_end(request, pk):
    secondment = get_scoped_or_404(Secondment.objects.all(), request.user, Action.MANAGE_MEMBERSHIPS, "to_institution", pk=pk)
    try:
        secondment_services.end_secondment(actor=request.user, secondment=secondment)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Secondment ended."))
    return redirect("secondment-list")
