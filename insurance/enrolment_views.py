"""The clinic clerk's enrolment page, and the eligibility panel the patient page shows (records.registry)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from consortium.errors import ApplicationError
from consortium.forms import apply_service_error
from consortium.permissions import Action, can
from consortium.templatetags.display import money
from records.access import read_patient_or_404
from records.registry import PatientPanel

from . import enrolment
from .forms import EnrolmentForm


@login_required
@require_http_methods(["GET", "POST"])
def enrol(request, patient_id):
    patient, _decision = read_patient_or_404(request.user, patient_id, request.path)
    if not can(request.user, Action.REGISTER_PATIENT, patient.home_institution_id):
        raise Http404
    today = timezone.localdate()
    form = EnrolmentForm(request.POST or None, today=today, initial={"insurance_number": patient.insurance_number})
    if request.method == "POST" and form.is_valid():
        try:
            enrolment.enrol_patient(actor=request.user, patient=patient, **form.cleaned_data)
        except ApplicationError as error:
            apply_service_error(form, error)
        else:
            messages.success(request, _("Enrolment recorded."))
            return redirect("records:patient-detail", pk=patient.pk)
    history = patient.enrolments.select_related("scheme").order_by("-year")
    return render(
        request,
        "insurance/enrol.html",
        {"patient": patient, "form": form, "history": history},
        status=400 if form.errors else 200,
    )


def eligibility_panel(user, patient):
    """The patient page's box: this year's scheme and cover, or "not enrolled" with the way to enrol."""
    if not (
        can(user, Action.REGISTER_PATIENT, patient.home_institution_id)
        or can(user, Action.CREATE_CLAIM, patient.home_institution_id)
    ):
        return None
    state = enrolment.eligibility(patient)
    links = ()
    if can(user, Action.REGISTER_PATIENT, patient.home_institution_id):
        links = ((_("Enrol in a scheme"), reverse("insurance:enrol", args=[patient.pk])),)
    if state.enrolment is None:
        return PatientPanel(
            key="eligibility",
            title=_("Insurance eligibility %(year)d") % {"year": state.year},
            warning=_("Not enrolled in a scheme for %(year)d: visits cannot be claimed.") % {"year": state.year},
            links=links,
        )
    item = state.enrolment
    lines = [
        _("Scheme: %(scheme)s") % {"scheme": item.scheme.label},
        _("Insurance number: %(number)s") % {"number": item.insurance_number},
        _("Household number: %(number)s") % {"number": item.household_number or "—"},
        _("Premium paid: ¥%(amount)s%(on)s")
        % {"amount": money(item.premium_paid), "on": f" ({item.premium_paid_on:%Y-%m-%d})" if item.premium_paid_on else ""},
    ]
    if item.special_disease:
        lines.append(_("Chronic and special-disease outpatient cover"))
    if item.assistance_group:
        lines.append(_("Medical assistance: %(group)s") % {"group": item.get_assistance_group_display()})
    warning = "" if state.policy_in_force else _("No policy of this scheme is in force for %(year)d.") % {"year": state.year}
    return PatientPanel(
        key="eligibility",
        title=_("Insurance eligibility %(year)d") % {"year": state.year},
        lines=tuple(lines),
        links=links,
        warning=warning,
    )
