"""Web pages of the referral workflow: thin views over forms, selectors and services."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from consortium import storage
from consortium.documents import paper_size, print_context
from consortium.downloads import attachment_response
from consortium.forms import apply_service_error
from consortium.permissions import Action, can, own_institution, require, scope, staff_of
from consortium.routing import reads_from_replica
from records.access import can_read_patient, log_patient_access, read_patient_or_404
from records.forms import DiagnosisFormSet, PrescriptionFormSet
from records.list_access import audited_list, listed, note_listed
from records.models import AccessReason, Encounter, PurposeOfUse
from records.selectors import recent_encounters

from . import documents, schedules, selectors, services
from .forms import (
    AcceptForm,
    AttachmentForm,
    DischargeForm,
    DueTimePolicyForm,
    FollowUpDoneForm,
    FollowUpFormSet,
    NoteForm,
    QueueFilterForm,
    ReasonForm,
    RedirectForm,
    ReferralCreateForm,
    SatisfactionForm,
    ScheduleFormSet,
    SlotFormSet,
    default_follow_up_plan,
)
from .models import ATTACHABLE, Direction, ReferralStatus
from .snapshot import clinical_summary_snapshot
from .transitions import ACTION_LABELS, Act, actions_from

#: Referrals per page of the coordinator's queue.
QUEUE_PAGE_SIZE = 50


@login_required
@audited_list(PurposeOfUse.COORDINATION)
def queue(request):
    """The coordinator's queue: filter by urgency, department, status and waiting time, sorted by due time."""
    institution = own_institution(request.user, Action.TRIAGE_REFERRAL)
    form = QueueFilterForm(request.GET or None, institution=institution)
    filters = form.cleaned_data if form.is_bound and form.is_valid() else {}
    rows = selectors.queue_rows(
        institution,
        selectors.TABLE_VALUES["from"],
        urgency=filters.get("urgency", ""),
        department_id=filters.get("department"),
        status=filters.get("status", ""),
        waiting=filters.get("waiting", ""),
    )
    page = selectors.ReferralRowsPaginator(rows, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    note_listed(row["patient_id"] for row in page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "referrals/queue.html",
        {"institution": institution, "form": form, "page": page, "query": query.urlencode(), "now": timezone.now()},
    )


@login_required
@audited_list(PurposeOfUse.COORDINATION)
@reads_from_replica
def referral_list(request):
    """Referrals sent by, and received by, the user's institution."""
    institution = own_institution(request.user, Action.VIEW_REFERRALS)
    sent = selectors.table_rows(selectors.referrals_sent_by(institution), "to")
    sent = selectors.ReferralRowsPaginator(sent, 30).get_page(request.GET.get("sent_page"))
    received = selectors.referrals_visible_to(request.user).filter(to_institution=institution).order_by("-created_at", "-pk")
    received = selectors.ReferralRowsPaginator(selectors.table_rows(received, "from"), 30).get_page(
        request.GET.get("received_page")
    )
    note_listed(row["patient_id"] for row in [*sent.object_list, *received.object_list])
    return render(request, "referrals/list.html", {"institution": institution, "sent": sent, "received": received})


def _patient_and_encounter(request):
    """The patient (and visit) a referral starts from, with the access decision; reading them is logged."""
    encounter_id, patient_id = request.GET.get("encounter", ""), request.GET.get("patient", "")
    encounter = None
    if encounter_id.isdigit():
        encounters = scope(Encounter.objects.all(), request.user, Action.START_REFERRAL)
        encounter = get_object_or_404(encounters, pk=encounter_id)
        patient_id = str(encounter.patient_id)
    if not patient_id.isdigit():
        return None, None, None
    patient, decision = read_patient_or_404(request.user, int(patient_id), request.path)
    return patient, encounter, decision


@login_required
@audited_list(PurposeOfUse.TREATMENT)
def create(request):
    """Start an upward referral from a visit: the form shows the clinical snapshot and open capacity."""
    institution = own_institution(request.user, Action.START_REFERRAL)
    patient, encounter, decision = _patient_and_encounter(request)
    if patient is None:
        return render(request, "referrals/choose_visit.html", {"encounters": listed(recent_encounters(institution))})
    # Another workflow may propose a referral by link (a chronic-care trigger): reason and urgency pre-filled.
    initial = {key: request.GET[key][:2000] for key in ("reason", "urgency") if request.GET.get(key)}
    form = ReferralCreateForm(request.POST or None, request.FILES or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            referral = services.create_referral(
                actor=request.user,
                patient=patient,
                source_encounter=encounter,
                to_department=form.cleaned_data["to_department"],
                urgency=form.cleaned_data["urgency"],
                reason=form.cleaned_data["reason"],
                attachments=form.cleaned_data["attachments"],
                submit="save_draft" not in request.POST,
            )
        except services.ReferralError as error:
            apply_service_error(form, error)
        else:
            if referral.status == ReferralStatus.DRAFT:
                messages.success(request, _("Referral #%(id)d saved as a draft.") % {"id": referral.pk})
            else:
                messages.success(request, _("Referral #%(id)d submitted.") % {"id": referral.pk})
            return redirect("referrals:detail", pk=referral.pk)
    return render(
        request,
        "referrals/create.html",
        {
            "form": form,
            "patient": patient,
            "encounter": encounter,
            "snapshot": clinical_summary_snapshot(patient, visits_of=decision.visits_of),
        },
    )


ACTION_FORMS = {
    Act.SUBMIT: NoteForm,
    Act.CANCEL: NoteForm,
    Act.REVIEW: NoteForm,
    Act.ACCEPT: AcceptForm,
    Act.REJECT: ReasonForm,
    Act.REDIRECT: RedirectForm,
    Act.ARRIVE: NoteForm,
    Act.START_TREATMENT: NoteForm,
    Act.COMPLETE: NoteForm,
}


def _action_form(act: Act, referral, data=None):
    form_class = ACTION_FORMS[act]
    if form_class in (AcceptForm, RedirectForm):
        return form_class(data, referral=referral, prefix=act.value)
    return form_class(data, prefix=act.value)


def _take(act: Act, referral, user, data: dict):
    slot = data.get("slot")
    return services.take(act, referral.pk, actor=user, data={**data, "slot_id": slot.pk if slot else None})


def _detail_context(request, referral, bound: dict | None = None) -> dict:
    bound = bound or {}
    receive = services.may_receive(request.user, referral)
    actions = [
        (act, ACTION_LABELS[act], bound.get(act) or _action_form(act, referral))
        for act in actions_from(referral.status)
        if act in ACTION_FORMS
        and services.may_take(request.user, referral, act)
        and not (receive and act in (Act.REVIEW, Act.ACCEPT))  # one step instead: receive
    ]
    can_discharge = (
        referral.direction == Direction.UP
        and referral.status == ReferralStatus.IN_TREATMENT
        and can(request.user, Action.START_REFERRAL, referral.to_institution_id)
    )
    can_rate = (
        referral.status == ReferralStatus.COMPLETED
        and referral.direction == Direction.UP
        and not hasattr(referral, "satisfaction")
        and can(request.user, Action.RECORD_FOLLOW_UP, referral.from_institution_id)
    )
    can_attach = referral.status in ATTACHABLE and can(request.user, Action.START_REFERRAL, referral.from_institution_id)
    return {
        "referral": referral,
        "appointment_statuses": documents.APPOINTMENT_STATUSES,
        "attachment_form": bound.get("attachment") or (AttachmentForm() if can_attach else None),
        "events": selectors.referral_timeline(referral),
        "attachments": referral.attachments.all(),
        "tasks": referral.follow_up_tasks.all(),
        "actions": actions,
        "receive_form": bound.get("receive") or (NoteForm(prefix="receive") if receive else None),
        "can_discharge": can_discharge,
        "satisfaction_form": bound.get("satisfaction") or (SatisfactionForm() if can_rate else None),
        "related": selectors.referrals_visible_to(request.user).filter(
            pk__in=[x for x in (referral.redirected_from_id, referral.upward_referral_id) if x]
        )
        | selectors.referrals_visible_to(request.user).filter(redirected_from=referral)
        | selectors.referrals_visible_to(request.user).filter(upward_referral=referral),
    }


def _visible_referral(user, pk):
    return get_object_or_404(selectors.referrals_visible_to(user), pk=pk)


@login_required
def detail(request, pk):
    """The referral with its clinical snapshot; showing it counts as a read of the patient's record."""
    referral = _visible_referral(request.user, pk)
    decision = can_read_patient(request.user, referral.patient)
    log_patient_access(request.user, referral.patient, request.path, decision.reason or AccessReason.REFERRAL)
    return render(request, "referrals/detail.html", _detail_context(request, referral))


def _print_context(request, referral, document, *, issuer, default_paper):
    decision = can_read_patient(request.user, referral.patient)
    log_patient_access(request.user, referral.patient, request.path, decision.reason or AccessReason.REFERRAL)
    return {
        **print_context(request, document, obj=referral, institution=issuer),
        "referral": referral,
        "patient": referral.patient,
        "issuer": issuer,
        "paper": paper_size(request, default_paper),
    }


@login_required
def print_referral(request, pk):
    """The referral form (转诊单) as a final document, for either direction, with its verification code."""
    referral = _visible_referral(request.user, pk)
    if referral.status == ReferralStatus.DRAFT:
        raise Http404
    context = _print_context(
        request, referral, documents.referral_form(referral), issuer=referral.from_institution, default_paper="a4"
    )
    context["tasks"] = referral.follow_up_tasks.all()
    return render(request, "referrals/print_referral.html", context)


@login_required
def print_appointment(request, pk):
    """The appointment slip (预约单) the patient takes to the receiving hospital."""
    referral = _visible_referral(request.user, pk)
    if referral.appointment_at is None or referral.status not in documents.APPOINTMENT_STATUSES:
        raise Http404
    context = _print_context(
        request, referral, documents.appointment_slip(referral), issuer=referral.to_institution, default_paper="a5"
    )
    return render(request, "referrals/print_appointment.html", context)


@login_required
@require_POST
def take_action(request, pk, action):
    """Take one transition of the table; an illegal one or a broken rule is shown as a form error."""
    referral = _visible_referral(request.user, pk)
    try:
        act = Act(action)
    except ValueError:
        raise Http404 from None
    if act not in ACTION_FORMS:
        raise Http404
    form = _action_form(act, referral, request.POST)
    if form.is_valid():
        try:
            _take(act, referral, request.user, form.cleaned_data)
        except services.ReferralError as error:
            apply_service_error(form, error)
        else:
            messages.success(request, _("Referral #%(id)d: %(action)s done.") % {"id": referral.pk, "action": ACTION_LABELS[act]})
            return redirect("referrals:detail", pk=referral.pk)
    referral.refresh_from_db()
    context = _detail_context(request, referral, bound={act: form})
    if not any(a == act for a, _label, _form in context["actions"]):
        context["action_error"] = (ACTION_LABELS[act], form)
    return render(request, "referrals/detail.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def receive(request, pk):
    """The patient's own clinic receives a downward referral in one step."""
    referral = _visible_referral(request.user, pk)
    form = NoteForm(request.POST, prefix="receive")
    if form.is_valid():
        if not services.may_receive(request.user, referral):
            raise PermissionDenied
        try:
            services.receive_downward_referral(referral.pk, actor=request.user, note=form.cleaned_data["note"])
        except services.ReferralError as error:
            apply_service_error(form, error)
        else:
            messages.success(request, _("Referral #%(id)d: the patient is received back home.") % {"id": referral.pk})
            return redirect("referrals:detail", pk=referral.pk)
    referral.refresh_from_db()
    return render(request, "referrals/detail.html", _detail_context(request, referral, bound={"receive": form}), status=400)


@login_required
def discharge(request, pk):
    """Discharge the patient of an upward referral back to the clinic with a follow-up plan."""
    referral = _visible_referral(request.user, pk)
    require(request.user, Action.START_REFERRAL, referral.to_institution_id)
    form = DischargeForm(
        request.POST or None,
        initial={"discharged_on": timezone.localdate(), "admitted_on": services.admitted_on(referral)},
    )
    formset = FollowUpFormSet(
        request.POST or None,
        initial=default_follow_up_plan(timezone.localdate()),
        prefix="tasks",
        form_kwargs={"empty_permitted": False},  # an untouched default row is still part of the plan
    )
    diagnoses = DiagnosisFormSet(request.POST or None, prefix="dx")
    medicines = PrescriptionFormSet(request.POST or None, prefix="rx")
    sections = {"diagnoses": [], "medicines": [], "tasks": []}
    if request.method == "POST" and all([form.is_valid(), formset.is_valid(), diagnoses.is_valid(), medicines.is_valid()]):
        tasks = formset.rows()
        try:
            downward = services.discharge_with_downward_referral(
                referral.pk,
                actor=request.user,
                discharge_summary=form.cleaned_data["discharge_summary"],
                tasks=tasks,
                discharge=form.discharge_data(diagnoses.rows(), medicines.rows()),
            )
        except services.ReferralError as error:
            apply_service_error(form, error, sections=sections)
        else:
            messages.success(request, _("Discharged; downward referral #%(id)d sent.") % {"id": downward.pk})
            return redirect("referrals:detail", pk=downward.pk)
    return render(
        request,
        "referrals/discharge.html",
        {
            "referral": referral,
            "form": form,
            "formset": formset,
            "diagnoses": diagnoses,
            "medicines": medicines,
            "sections": sections,
        },
    )


@login_required
@require_POST
def satisfaction(request, pk):
    referral = _visible_referral(request.user, pk)
    form = SatisfactionForm(request.POST)
    if form.is_valid():
        try:
            services.record_satisfaction(
                referral.pk, actor=request.user, score=form.cleaned_data["score"], comment=form.cleaned_data["comment"]
            )
        except services.ReferralError as error:
            apply_service_error(form, error)
        else:
            messages.success(request, _("Satisfaction recorded."))
            return redirect("referrals:detail", pk=referral.pk)
    return render(request, "referrals/detail.html", _detail_context(request, referral, bound={"satisfaction": form}), status=400)


@login_required
@require_POST
def add_attachment(request, pk):
    """The sender adds a PDF or image before the decision; a bad file is shown as a form error."""
    referral = _visible_referral(request.user, pk)
    form = AttachmentForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.add_attachment(referral.pk, actor=request.user, upload=form.cleaned_data["file"])
        except services.ReferralError as error:
            apply_service_error(form, error)
        else:
            messages.success(request, _("Attachment added."))
            return redirect("referrals:detail", pk=referral.pk)
    return render(request, "referrals/detail.html", _detail_context(request, referral, bound={"attachment": form}), status=400)


@login_required
def attachment(request, pk, attachment_id):
    referral = _visible_referral(request.user, pk)
    item = get_object_or_404(referral.attachments, pk=attachment_id)
    try:
        stream = storage.open_stream(item.file.name)
    except FileNotFoundError:
        raise Http404 from None
    return attachment_response(stream, content_type=item.content_type, filename=item.original_name, size=item.size)


@login_required
def slots(request):
    """The hospital's referral capacity: open slots, and a batch of rows to open more (all or none)."""
    institution = own_institution(request.user, Action.TRIAGE_REFERRAL)
    formset = SlotFormSet(request.POST or None, prefix="slots", form_kwargs={"institution": institution})
    if request.method == "POST" and formset.is_valid():
        rows = formset.rows()
        if not rows:
            formset.forms[0].add_error("starts_at", _("Give the start time of this slot."))
        else:
            filled = [form for form in formset.forms if form.cleaned_data and not form.is_blank()]
            try:
                opened = services.open_referral_slots(actor=request.user, slots=rows)
            except services.SlotRowError as error:
                apply_service_error(filled[error.row], error)
            else:
                messages.success(request, _("%(count)d slots opened.") % {"count": len(opened)})
                return redirect("referrals:slots")
    return render(
        request,
        "referrals/slots.html",
        {"institution": institution, "formset": formset, "slots": selectors.slots_of(institution)},
    )


@login_required
def schedule(request):
    """The hospital's weekly slot schedule per department; slots of the coming weeks follow from it."""
    institution = own_institution(request.user, Action.TRIAGE_REFERRAL)
    formset = ScheduleFormSet(request.POST or None, prefix="schedule", form_kwargs={"institution": institution})
    if request.method == "POST" and formset.is_valid():
        rows = formset.rows()
        if not rows:
            formset.forms[0].add_error("weekday", _("Choose the day of the week."))
        else:
            filled = [form for form in formset.forms if form.cleaned_data and not form.is_blank()]
            try:
                added = schedules.add_slot_schedules(actor=request.user, rows=rows)
            except services.SlotRowError as error:
                apply_service_error(filled[error.row], error)
            else:
                messages.success(request, _("%(count)d schedule rows added.") % {"count": len(added)})
                return redirect("referrals:schedule")
    return render(
        request,
        "referrals/schedule.html",
        {
            "institution": institution,
            "formset": formset,
            "schedules": selectors.schedules_of(institution),
            "weeks_ahead": schedules.WEEKS_AHEAD,
        },
    )


@login_required
@require_POST
def schedule_remove(request, schedule_id):
    institution = own_institution(request.user, Action.TRIAGE_REFERRAL)
    row = get_object_or_404(selectors.schedules_of(institution), pk=schedule_id)
    removed = schedules.remove_slot_schedule(row.pk, actor=request.user)
    messages.success(request, _("Schedule row removed with %(count)d open slots.") % {"count": removed})
    return redirect("referrals:schedule")


@login_required
@audited_list(PurposeOfUse.TREATMENT)
def follow_ups(request):
    """The clinic's follow-up task list from downward referrals."""
    own_institution(request.user, Action.RECORD_FOLLOW_UP)
    include_done = request.GET.get("all") == "1"
    tasks = selectors.follow_up_tasks_for(request.user, include_done=include_done)
    page = Paginator(tasks, 50).get_page(request.GET.get("page"))
    listed(page.object_list, "referral.patient_id")
    return render(
        request,
        "referrals/follow_ups.html",
        {"page": page, "include_done": include_done, "done_form": FollowUpDoneForm(), "today": timezone.localdate()},
    )


@login_required
@require_POST
def follow_up_done(request, task_id):
    task = get_object_or_404(selectors.follow_up_tasks_for(request.user, include_done=True), pk=task_id)
    form = FollowUpDoneForm(request.POST)
    if form.is_valid():
        try:
            services.complete_follow_up_task(task.pk, actor=request.user, outcome=form.cleaned_data["outcome"])
        except services.ReferralError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Follow-up recorded."))
    else:
        messages.error(request, _("Write what was done at the follow-up."))
    return redirect("referrals:follow-ups")


@login_required
def notifications(request):
    if request.method == "POST":
        services.mark_notifications_read(user=request.user)
        return redirect("referrals:notifications")
    page = Paginator(selectors.notifications_for(request.user), 50).get_page(request.GET.get("page"))
    return render(request, "referrals/notifications.html", {"page": page})


@login_required
def due_times(request):
    """The consortium administrator sets the decision due times per urgency, escalation and expiry."""
    staff = staff_of(request.user)
    if staff is None or staff.consortium is None:
        raise PermissionDenied
    consortium = staff.consortium
    policy = selectors.due_time_policy_of(consortium)
    initial = {name: getattr(policy, name) for name in services.POLICY_FIELDS}
    form = DueTimePolicyForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.set_due_time_policy(actor=request.user, consortium=consortium, **form.cleaned_data)
        except services.ReferralError as error:
            apply_service_error(form, error)
        else:
            messages.success(request, _("Referral due times saved."))
            return redirect("referrals:due-times")
    return render(request, "referrals/due_times.html", {"consortium": consortium, "form": form})
