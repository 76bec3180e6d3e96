"""Clinic web pages: registration, search, visit entry, the patient timeline, consent, break-glass and the MPI queue."""

import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from consortium.errors import ApplicationError
from consortium.forms import apply_service_error
from consortium.permissions import Action, can, can_anywhere, own_institution, require, staff_of

from . import catalogues, icd10, registry, selectors, services
from .access import can_read_patient, log_denied_access, log_patient_list, read_patient_or_404
from .forms import (
    AllergyForm,
    BreakGlassForm,
    CatalogueImportForm,
    ChargeItemFormSet,
    ConsentForm,
    DiagnosisFormSet,
    EncounterEditForm,
    EncounterForm,
    ObservationFormSet,
    PatientEditForm,
    PatientRegistrationForm,
    PatientSearchForm,
    PrescriptionFormSet,
)
from .list_access import audited_list, listed, note_listed
from .models import (
    AccessAction,
    BreakGlassAccess,
    BreakGlassReview,
    CatalogueImport,
    CatalogueKind,
    Encounter,
    HomeNotice,
    MatchReview,
    Patient,
    PatientMerge,
    PurposeOfUse,
    identifier_hashes,
)
from .resident_id import normalize
from .vitals import VitalsForm


@login_required
@require_http_methods(["GET", "POST"])
def patient_search(request):
    """Searched by POST so that resident IDs and phones never land in URLs, access logs or browser history."""
    form = PatientSearchForm(request.POST or None)
    results = []
    if form.is_valid():
        results = list(selectors.search_patients(request.user, form.cleaned_data["q"]))
        log_patient_list(request.user, results, request.path, AccessAction.SEARCH)
    context = {
        "form": form,
        "results": results,
        "searched": bool(request.POST.get("q")),
        "may_register": can_anywhere(request.user, Action.REGISTER_PATIENT),
        "may_break_glass": can_anywhere(request.user, Action.VIEW_SHARED_RECORD),
    }
    return render(request, "records/patient_search.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def patient_register(request):
    """Register a patient; a likely duplicate found by the matcher is shown before anything is saved.

    The clerk then says "this is the same person" (open the existing record, or ask for access to
    it) or "register anyway" (the new patient is saved and the pair goes to the review queue).
    """
    institution = own_institution(request.user, Action.REGISTER_PATIENT)
    form = PatientRegistrationForm(request.POST or None)
    candidate = None
    decision = request.POST.get("decision", "")
    if request.method == "POST" and form.is_valid():
        if decision == "same" and request.POST.get("candidate", "").isdigit():
            return _open_same_person(request, int(request.POST["candidate"]))
        try:
            patient, created = services.register_patient(
                actor=request.user,
                institution=institution,
                data=form.patient_data(),
                consents_to_sharing=form.cleaned_data["consents_to_sharing"],
                registration_key=form.cleaned_data["registration_key"] or None,
                duplicates=services.DuplicateCheck.REVIEW if decision == "register" else services.DuplicateCheck.ASK,
            )
        except services.PossibleDuplicate as duplicate:
            candidate = duplicate.candidate
        except ValidationError as error:
            apply_service_error(form, error)
        else:
            if created:
                messages.success(request, _("Patient registered."))
                if decision == "register":
                    messages.info(request, _("The possible duplicate was sent to the patient index review queue."))
            return redirect("records:patient-detail", pk=patient.pk)
    context = {"form": form, "institution": institution, "candidate": candidate}
    return render(request, "records/patient_register.html", context)


def _open_same_person(request, candidate_id: int):
    """The clerk recognised an existing patient: open that record if the user may read it, else say how to."""
    candidate = get_object_or_404(Patient.objects.select_related("home_institution"), pk=candidate_id)
    if can_read_patient(request.user, candidate):
        messages.success(request, _("The existing record is opened; nothing new was registered."))
        return redirect("records:patient-detail", pk=candidate.pk)
    messages.warning(
        request,
        _(
            "This person is registered at %(institution)s. Ask the patient to consent to sharing there, "
            "or open the record in an emergency."
        )
        % {"institution": candidate.home_institution.name},
    )
    return redirect("records:break-glass")


@login_required
@require_http_methods(["GET", "POST"])
def patient_edit(request, pk):
    """Correct a patient's details at their home institution; each change is audited and listed below."""
    patient, _decision = read_patient_or_404(request.user, pk, request.path)
    if not can(request.user, Action.REGISTER_PATIENT, patient.home_institution):
        raise Http404
    initial = {key: getattr(patient, key) for key in services.PATIENT_FIELDS}
    form = PatientEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_patient(
                actor=request.user, patient=patient, data=form.patient_data(), reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            apply_service_error(form, error)
        else:
            messages.success(request, _("Patient details saved."))
            return redirect("records:patient-detail", pk=patient.pk)
    context = {"patient": patient, "form": form, "history": selectors.patient_history(patient)}
    return render(request, "records/patient_edit.html", context)


@login_required
@require_GET
def patient_detail(request, pk):
    patient, decision = read_patient_or_404(request.user, pk, request.path)
    if patient.merged_into_id:
        messages.info(request, _("This record was merged into another patient."))
    home = patient.home_institution
    staff = staff_of(request.user)
    context = {
        "patient": patient,
        "decision": decision,
        "show_identifiers": decision.full and can(request.user, Action.VIEW_IDENTIFIERS, home),
        "encounters": selectors.timeline(request.user, patient, decision),
        "workflow_entries": registry.timeline_entries(request.user, patient) if decision.full else [],
        "panels": registry.patient_panels(request.user, patient) if decision.full else [],
        "allergies": patient.allergies.all() if decision.full else [],
        "may_record_visit": bool(staff and staff.institution and can(request.user, Action.RECORD_ENCOUNTER, staff.institution)),
        "referrable_institution_id": (
            staff.institution_id
            if staff and staff.institution and can(request.user, Action.START_REFERRAL, staff.institution)
            else None
        ),
        "referrable_since": selectors.referrable_since(),
        "may_manage": can(request.user, Action.REGISTER_PATIENT, home),
        "may_view_log": can(request.user, Action.VIEW_ACCESS_LOG, home),
        "consent_form": ConsentForm(initial={"granted": "yes" if patient.consents_to_sharing else "no"}),
        "allergy_form": AllergyForm(),
    }
    return render(request, "records/patient_detail.html", context)


@login_required
@require_POST
def patient_consent(request, pk):
    patient, _decision = read_patient_or_404(request.user, pk, request.path)
    form = ConsentForm(request.POST)
    if not can(request.user, Action.REGISTER_PATIENT, patient.home_institution):
        raise Http404
    if form.is_valid():
        services.record_consent(
            actor=request.user, patient=patient, granted=form.cleaned_data["granted"], note=form.cleaned_data["note"]
        )
        messages.success(request, _("Consent recorded."))
    else:
        messages.error(request, _("Choose whether the patient grants or withdraws consent."))
    return redirect("records:patient-detail", pk=patient.pk)


@login_required
@require_POST
def patient_allergy(request, pk):
    institution = own_institution(request.user, Action.RECORD_ENCOUNTER)
    patient, _decision = read_patient_or_404(request.user, pk, request.path)
    form = AllergyForm(request.POST)
    if form.is_valid():
        try:
            services.record_allergy(actor=request.user, institution=institution, patient=patient, **form.cleaned_data)
        except ValidationError as error:
            apply_service_error(form, error)
    if form.errors:
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, message)
    else:
        messages.success(request, _("Allergy recorded."))
    return redirect("records:patient-detail", pk=patient.pk)


@login_required
@require_GET
def patient_access_log(request, pk):
    patient = get_object_or_404(Patient.objects.select_related("home_institution"), pk=pk)
    if not can(request.user, Action.VIEW_ACCESS_LOG, patient.home_institution):
        log_denied_access(request.user, patient, request.path)
        raise Http404
    services_log = selectors.access_log_for(patient)
    return render(request, "records/access_log.html", {"patient": patient, "entries": services_log})


ACCESS_REPORT_DAYS = 365


@login_required
@require_GET
def patient_access_report(request, pk):
    """ "Who viewed my record": a page the home clinic prints (A4) and hands to the patient — every access
    of the last year, who (name, role, institution), when (Asia/Shanghai), what and why.  Only staff of
    the patient's home institution print it, and printing it is itself logged and audited."""
    patient = get_object_or_404(Patient.objects.select_related("home_institution"), pk=pk)
    staff = staff_of(request.user)
    at_home = staff is not None and staff.institution_id == patient.home_institution_id
    if not (at_home and can(request.user, Action.VIEW_ACCESS_LOG, patient.home_institution)):
        log_denied_access(request.user, patient, request.path)
        raise Http404
    now = timezone.now()
    since = now - datetime.timedelta(days=ACCESS_REPORT_DAYS)
    entries = selectors.access_report_entries(patient, since)
    services.record_access_report(actor=request.user, patient=patient, entries=len(entries), path=request.path)
    context = {
        "patient": patient,
        "entries": [(entry, selectors.describe_access_path(entry.path)) for entry in entries],
        "since": since,
        "now": now,
        "printed_by": staff,
    }
    return render(request, "records/access_report.html", context)


@login_required
@require_GET
def break_glass_oversight(request):
    """The consortium privacy officer's queue: every break-glass at the members, awaiting review first, overdue flagged."""
    if not can_anywhere(request.user, Action.OVERSEE_PRIVACY):
        raise Http404
    grants = list(selectors.break_glass_oversight(request.user)[:200])
    now = timezone.now()
    context = {
        "grants": grants,
        "now": now,
        "awaiting": sum(1 for grant in grants if grant.reviewed_at is None),
        "overdue": sum(1 for grant in grants if grant.review_overdue),
    }
    return render(request, "records/break_glass_oversight.html", context)


SECTION_PREFIXES = {"diagnoses": "dx", "prescriptions": "rx", "observations": "obs", "charge_items": "charge"}


def _encounter_sections(post=None):
    return {
        "diagnoses": DiagnosisFormSet(post, prefix="dx"),
        "prescriptions": PrescriptionFormSet(post, prefix="rx"),
        "observations": ObservationFormSet(post, prefix="obs"),
        "charge_items": ChargeItemFormSet(post, prefix="charge"),
    }


def _encounter_initial(request, institution) -> dict:
    """A new visit starts now, with the signed-in doctor and their department when they belong here."""
    initial = {"started_at": timezone.localtime().replace(second=0, microsecond=0)}
    staff = staff_of(request.user)
    if staff is not None and staff.institution_id == institution.pk:
        initial["attending"] = staff.pk
        if staff.department_id:
            initial["department"] = staff.department_id
    return initial


@login_required
@require_http_methods(["GET", "POST"])
def encounter_create(request, pk):
    institution = own_institution(request.user, Action.RECORD_ENCOUNTER)
    patient, _decision = read_patient_or_404(request.user, pk, request.path)
    post = request.POST or None
    form = EncounterForm(post, institution=institution, initial=_encounter_initial(request, institution))
    vitals = VitalsForm(post, prefix="vitals")
    sections = _encounter_sections(post)
    section_errors = {name: [] for name in sections}
    if request.method == "POST":
        valid = [form.is_valid(), vitals.is_valid(), *(s.is_valid() for s in sections.values())]
        if all(valid):
            data = services.EncounterInput(
                kind=form.cleaned_data["kind"],
                started_at=form.cleaned_data["started_at"],
                ended_at=form.cleaned_data["ended_at"],
                chief_complaint=form.cleaned_data["chief_complaint"],
                department_id=form.cleaned_data["department"],
                attending_id=form.cleaned_data["attending"],
                diagnoses=sections["diagnoses"].rows(),
                prescriptions=sections["prescriptions"].rows(),
                observations=vitals.observations() + sections["observations"].rows(),
                charge_items=sections["charge_items"].rows(),
            )
            try:
                encounter = services.record_encounter(actor=request.user, institution=institution, patient=patient, data=data)
            except ValidationError as error:
                apply_service_error(form, error, sections=section_errors)
            else:
                messages.success(request, _("Visit recorded."))
                return redirect(reverse("records:patient-detail", kwargs={"pk": patient.pk}) + f"#encounter-{encounter.pk}")
        else:
            messages.error(request, _("The visit was not saved: correct the marked fields and rows."))
    context = {
        "patient": patient,
        "form": form,
        "vitals": vitals,
        "sections": sections,
        "section_errors": section_errors,
        "institution": institution,
    }
    return render(request, "records/encounter_form.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def encounter_edit(request, pk):
    encounter = get_object_or_404(Encounter.objects.select_related("institution", "patient"), pk=pk)
    if not can(request.user, Action.RECORD_ENCOUNTER, encounter.institution):
        raise Http404
    read_patient_or_404(request.user, encounter.patient_id, request.path)
    initial = {
        "kind": encounter.kind,
        "started_at": encounter.started_at,
        "ended_at": encounter.ended_at,
        "chief_complaint": encounter.chief_complaint,
        "department": encounter.department_id,
        "attending": encounter.attending_id,
        "diagnoses": ", ".join(d.code for d in encounter.diagnoses.order_by("-is_primary", "pk")),
    }
    form = EncounterEditForm(request.POST or None, institution=encounter.institution, initial=initial)
    if request.method == "POST" and form.is_valid():
        changes = {
            "kind": form.cleaned_data["kind"],
            "started_at": form.cleaned_data["started_at"],
            "ended_at": form.cleaned_data["ended_at"],
            "chief_complaint": form.cleaned_data["chief_complaint"],
            "department_id": form.cleaned_data["department"],
            "attending_id": form.cleaned_data["attending"],
            "diagnoses": form.cleaned_data["diagnoses"],
        }
        try:
            services.update_encounter(actor=request.user, encounter=encounter, changes=changes)
        except ValidationError as error:
            apply_service_error(form, error, renames={"department_id": "department", "attending_id": "attending"})
        else:
            messages.success(request, _("Visit updated."))
            return redirect("records:patient-detail", pk=encounter.patient_id)
    return render(
        request,
        "records/encounter_edit.html",
        {
            "encounter": encounter,
            "form": form,
            "revisions": encounter.revisions.select_related("changed_by__staff"),
            "may_refer": can(request.user, Action.START_REFERRAL, encounter.institution)
            and encounter.started_at >= selectors.referrable_since(),
        },
    )


@login_required
@require_GET
def icd10_search(request):
    """An htmx fragment: <option> rows for the diagnosis code datalist."""
    return render(request, "records/_icd10_options.html", {"codes": icd10.search(request.GET.get("q", ""))})


@login_required
@require_GET
def catalogue_search(request):
    """An htmx fragment: <option> rows of drugs or service items for a visit row's name field.

    htmx sends the typed name under the input's own field name (``rx-0-drug_name``); ``q`` works too.
    """
    query = request.GET.get("q") or next(
        (value for key, value in request.GET.items() if key.endswith("drug_name") or key.endswith("-name")), ""
    )
    kind = request.GET.get("kind", "")
    entries = catalogues.search(kind if kind in CatalogueKind.values else None, query[:64])
    return render(request, "records/_catalogue_options.html", {"entries": entries})


@login_required
@require_http_methods(["GET", "POST"])
def catalogue_admin(request):
    """The consortium administrator loads or replaces a catalogue from CSV; a bad file is refused whole
    with every bad row named."""
    if not catalogues.may_manage(request.user):
        raise PermissionDenied
    form = CatalogueImportForm(request.POST or None, request.FILES or None)
    problems, report = [], None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            report = catalogues.import_catalogue(
                actor=request.user,
                kind=form.cleaned_data["kind"],
                content=upload.read(catalogues.MAX_BYTES + 1),
                replace=form.cleaned_data["replace"],
                file_name=upload.name,
            )
        except catalogues.CatalogueImportError as error:
            problems = error.rows
            apply_service_error(form, error)
        else:
            messages.success(
                request,
                _("Catalogue loaded: %(created)d new, %(updated)d changed, %(unchanged)d unchanged, %(deactivated)d withdrawn.")
                % vars(report),
            )
            return redirect("records:catalogues")
    return render(
        request,
        "records/catalogues.html",
        {
            "form": form,
            "problems": problems,
            "counts": catalogues.counts(),
            "imports": CatalogueImport.objects.select_related("imported_by")[:20],
            "columns": {kind.label: catalogues.COLUMNS[kind] for kind in CatalogueKind},
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def break_glass(request):
    """Open only to clinical roles (those that read shared records somewhere); the reason is checked before
    the resident ID is looked up, and an unknown ID and a patient out of reach get the same answer."""
    if not can_anywhere(request.user, Action.VIEW_SHARED_RECORD):
        raise Http404
    form = BreakGlassForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.check_break_glass_reason(form.cleaned_data["reason_code"], form.cleaned_data["reason"])
        except ValidationError as error:
            apply_service_error(form, error)
            return render(request, "records/break_glass.html", {"form": form})
        number = normalize(form.cleaned_data["resident_id"])
        hashes = identifier_hashes("resident_id", number) if number else []
        patient = Patient.objects.filter(resident_id_hash__in=hashes).first() if hashes else None
        if patient is None:
            form.add_error("resident_id", _("No patient you may open in an emergency has this resident ID."))
        else:
            try:
                services.start_break_glass(
                    actor=request.user,
                    patient=patient,
                    reason=form.cleaned_data["reason"],
                    reason_code=form.cleaned_data["reason_code"],
                )
            except PermissionDenied:
                form.add_error("resident_id", _("No patient you may open in an emergency has this resident ID."))
            except ValidationError as error:
                apply_service_error(form, error)
            else:
                messages.warning(request, _("Emergency access opened; the patient's home institution has been notified."))
                return redirect("records:patient-detail", pk=patient.pk)
    return render(request, "records/break_glass.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
@audited_list(PurposeOfUse.OPERATIONS)
def patient_index_queue(request):
    """The home institution's MPI work: uncertain matches, merges, and flagged break-glass accesses."""
    staff = staff_of(request.user)
    if staff is None or staff.institution is None:
        raise Http404
    institution = staff.institution
    may_manage = can(request.user, Action.MANAGE_PATIENT_INDEX, institution)
    may_view_log = can(request.user, Action.VIEW_ACCESS_LOG, institution)
    if not (may_manage or may_view_log):
        raise Http404
    if request.method == "POST":
        try:
            _queue_action(request, institution)
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
        except ApplicationError as error:
            messages.error(request, error.message)
        return redirect("records:index-queue")
    reviews = list(selectors.open_reviews(institution)) if may_manage else []
    merges = list(selectors.merges_for(institution)) if may_manage else []
    note_listed(pk for review in reviews for pk in (review.patient_id, review.candidate_id))
    note_listed(pk for merge in merges for pk in (merge.survivor_id, merge.merged_id))
    context = {
        "institution": institution,
        "may_manage": may_manage,
        "may_view_log": may_view_log,
        "reviews": reviews,
        "merges": merges,
        "break_glass": listed(selectors.break_glass_for(institution)[:50]) if may_view_log else [],
        "review_outcomes": BreakGlassReview.choices,
        "now": timezone.now(),
        "notices": listed(selectors.open_notices(institution)[:100]) if may_view_log else [],
    }
    return render(request, "records/index_queue.html", context)


def _posted_id(request, key: str) -> int:
    value = request.POST.get(key, "")
    if not value.isdigit():
        raise Http404
    return int(value)


def _queue_action(request, institution) -> None:
    action = request.POST.get("action")
    if action in ("link", "separate"):
        review = get_object_or_404(MatchReview, pk=_posted_id(request, "review"), candidate__home_institution=institution)
        services.decide_review(actor=request.user, review=review, same_person=action == "link")
        messages.success(request, _("Decision recorded."))
    elif action == "unmerge":
        merge = get_object_or_404(PatientMerge, pk=_posted_id(request, "merge"), survivor__home_institution=institution)
        services.unmerge_patients(actor=request.user, merge=merge)
        messages.success(request, _("Merge undone."))
    elif action == "reviewed":
        grant = get_object_or_404(BreakGlassAccess, pk=_posted_id(request, "grant"), patient__home_institution=institution)
        require(request.user, Action.VIEW_ACCESS_LOG, institution)
        services.review_break_glass(
            actor=request.user, grant=grant, outcome=request.POST.get("outcome", ""), note=request.POST.get("note", "")
        )
        messages.success(request, _("Review recorded."))
    elif action == "acknowledge":
        notice = get_object_or_404(HomeNotice, pk=_posted_id(request, "notice"), institution=institution)
        services.acknowledge_notice(actor=request.user, notice=notice)
        messages.success(request, _("Notice acknowledged."))
    else:
        raise ValidationError(_("Unknown action."))
