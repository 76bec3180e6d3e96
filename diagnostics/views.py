"""Web pages of diagnostics: the clinic's orders, the centre's worklist and reading, critical values,
consultations and the centre configuration.  Views translate input and errors; services decide."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from consortium import storage
from consortium.documents import paper_size, print_context
from consortium.downloads import attachment_response
from consortium.errors import ApplicationError
from consortium.forms import apply_service_error
from consortium.permissions import Action, can, can_anywhere, institution_ids_for, scope, staff_of
from records.access import log_patient_access
from records.list_access import audited_list, listed
from records.models import AccessAction, Encounter, PurposeOfUse
from records.selectors import encounters_on

from . import catalogue, consultations, critical, documents, recognition, selectors, services
from .forms import (
    AcknowledgeForm,
    AmendForm,
    AttachmentForm,
    CentreForm,
    CloseCriticalForm,
    ConsultationForm,
    ConsultationScheduleForm,
    OpinionForm,
    OrderForm,
    ReaderForm,
    ReasonForm,
    ReportForm,
    SampleForm,
    ScheduleForm,
    ServiceForm,
    member_institutions,
)
from .indicators import critical_summary
from .models import (
    IMAGING_MODALITIES,
    Centre,
    CentreKind,
    CriticalStatus,
    Modality,
    OrderStatus,
    Reader,
)
from .transitions import ACTION_LABELS, CONSULTATION_TRANSITIONS, CRITICAL_TRANSITIONS, Act, ConsultationAct, CriticalAct


def _put_error(form, error: ApplicationError) -> None:
    apply_service_error(form, error, renames={"file": "files", "attachments": "files", "barcode": "barcodes"})


def _own_institution_id(user) -> int | None:
    staff = staff_of(user)
    return staff.institution_id if staff else None


# --- landing ---------------------------------------------------------------------------------------


@login_required
@require_GET
@audited_list(PurposeOfUse.TREATMENT)
def home(request):
    """The clinic's orders and open critical values; the reader's centres."""
    own = _own_institution_id(request.user)
    status = request.GET.get("status", "")
    orders = selectors.clinic_orders(request.user, own, status=status) if own else selectors.visible_orders(request.user).none()
    open_critical = selectors.visible_critical_values(request.user).filter(
        status__in=[CriticalStatus.RAISED, CriticalStatus.ESCALATED], order__ordering_institution_id=own
    )
    orders = Paginator(orders, 30).get_page(request.GET.get("page"))
    listed(orders.object_list)
    may_order = bool(own and can(request.user, Action.ORDER_DIAGNOSTICS, own))
    visits = encounters_on(staff_of(request.user).institution)[:20] if may_order else []
    context = {
        "orders": orders,
        "status": status,
        "statuses": OrderStatus.choices,
        "centres": selectors.centres_for(request.user).annotate(
            waiting=Count("orders", filter=Q(orders__status=OrderStatus.RECEIVED))
        ),
        "open_critical": open_critical,
        "may_order": may_order,
        "visits": listed(visits),
        "unread": selectors.unread_count(request.user),
    }
    return render(request, "diagnostics/home.html", context)


# --- ordering --------------------------------------------------------------------------------------


def _ordering_visit(request) -> Encounter:
    encounter_id = request.GET.get("encounter", "") or request.POST.get("encounter", "")
    if not encounter_id.isdigit():
        raise Http404
    encounters = scope(Encounter.objects.select_related("patient", "institution"), request.user, Action.ORDER_DIAGNOSTICS)
    return get_object_or_404(encounters, pk=encounter_id)


@login_required
@require_http_methods(["GET", "POST"])
def order_create(request):
    encounter = _ordering_visit(request)
    services_offered = selectors.orderable_services(encounter.institution_id)
    form = OrderForm(request.POST or None, request.FILES or None, services=services_offered)
    if request.method == "POST" and request.POST.get("use_prior"):
        try:
            recognition.use_prior_result(actor=request.user, encounter=encounter, prior_order_id=int(request.POST["use_prior"]))
        except (ApplicationError, ValueError) as error:
            messages.error(request, getattr(error, "message", _("That result is not a recognised prior result of this patient.")))
        else:
            messages.success(request, _("The recognised prior result was used; no repeat test was ordered."))
            return redirect(f"{reverse('diagnostics:order-create')}?encounter={encounter.pk}")
    elif request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            order = services.create_order(
                actor=request.user,
                encounter=encounter,
                service=data["service"],
                urgency=data["urgency"],
                reason=data["reason"],
                clinical_question=data["clinical_question"],
                body_site=data["body_site"],
                attachments=data["files"],
                barcodes=form.barcode_list(),
                repeat_reason=data["repeat_reason"],
            )
        except ApplicationError as error:
            _put_error(form, error)
        else:
            messages.success(request, _("Order %(accession)s was placed.") % {"accession": order.accession})
            return redirect("diagnostics:order-detail", order.pk)
    context = {
        "form": form,
        "encounter": encounter,
        "patient": encounter.patient,
        "priors": recognition.all_prior_results(encounter.patient, encounter.institution),
        "centres": consultations_centres(encounter.institution_id),
    }
    return render(request, "diagnostics/order_form.html", context)


def consultations_centres(institution_id: int):
    return Centre.objects.filter(kind=CentreKind.CONSULTATION, is_active=True, served_institutions=institution_id)


# --- the order page --------------------------------------------------------------------------------

_ACTION_FORMS = {
    Act.SCHEDULE: ScheduleForm,
    Act.REJECT: ReasonForm,
    Act.CANCEL: ReasonForm,
    Act.RETURN: ReasonForm,
    Act.SIGN: ReportForm,
    Act.SUBMIT_FOR_REVIEW: ReportForm,
    Act.AMEND: AmendForm,
}


def _open_actions(user, order, posted=None) -> list:
    acts = [act for act in Act if services.may_take(user, order, act)]
    if order.service.requires_second_reader:
        acts = [a for a in acts if a != Act.SIGN]
    else:
        acts = [a for a in acts if a != Act.SUBMIT_FOR_REVIEW]
    rows = []
    for act in acts:
        form_class = _ACTION_FORMS.get(act)
        form = None
        if form_class is not None:
            form = posted[1] if posted and posted[0] == act else form_class(prefix=act)
        rows.append((act, ACTION_LABELS[act], form))
    return rows


def _order_context(request, order, posted=None) -> dict:
    version = selectors.current_version(order)
    return {
        "order": order,
        "version": version,
        "versions": order.report_versions.select_related("author__staff").order_by("-number"),
        "attachments": order.attachments.all(),
        "samples": order.samples.all(),
        "critical_values": order.critical_values.all(),
        "events": order.events.select_related("actor__staff"),
        "actions": _open_actions(request.user, order, posted),
        "attachment_form": AttachmentForm()
        if order.status in services.ATTACHABLE and can(request.user, Action.ORDER_DIAGNOSTICS, order.ordering_institution_id)
        else None,
        "sample_form": SampleForm()
        if order.modality in services.SAMPLE_MODALITIES
        and order.status in {OrderStatus.REQUESTED, OrderStatus.SCHEDULED}
        and can(request.user, Action.ORDER_DIAGNOSTICS, order.ordering_institution_id)
        else None,
        "recognition": getattr(order, "recognition_decision", None),
    }


@login_required
@require_GET
def order_detail(request, pk):
    order = selectors.order_or_404(request.user, pk)
    return render(request, "diagnostics/order_detail.html", _order_context(request, order))


@login_required
@require_GET
def order_print(request, pk):
    order = selectors.order_or_404(request.user, pk)
    version = selectors.current_version(order)
    if version is None or version.signed_at is None:
        raise Http404
    log_patient_access(
        request.user,
        order.patient,
        request.path,
        "own_institution" if order.ordering_institution_id == _own_institution_id(request.user) else "diagnostic_order",
        action=AccessAction.PRINT,
    )
    context = {
        **print_context(request, documents.report_document(order, version), obj=order, institution=order.centre.institution),
        "order": order,
        "version": version,
        "issuer": order.centre.institution,
        "paper": paper_size(request, "a4"),
    }
    return render(request, "diagnostics/order_print.html", context)


def _take(request, order, act: str, form):
    user, pk = request.user, order.pk
    data = form.cleaned_data if form is not None else {}
    if act == Act.SEND:
        return services.send_order(pk, actor=user)
    if act == Act.SCHEDULE:
        return services.schedule_order(pk, actor=user, scheduled_at=data["scheduled_at"])
    if act == Act.RECEIVE:
        return services.receive_order(pk, actor=user)
    if act == Act.CLAIM:
        return services.claim_order(pk, actor=user)
    if act == Act.RELEASE:
        return services.release_order(pk, actor=user)
    if act in (Act.SIGN, Act.SUBMIT_FOR_REVIEW):
        return services.sign_report(
            pk,
            actor=user,
            findings=data["findings"],
            impression=data["impression"],
            result_code=data["result_code"],
            result_display=data["result_display"],
            observations=form.observation_rows(),
            critical_description=data["critical_description"],
        )
    if act == Act.REVIEW:
        return services.review_report(pk, actor=user)
    if act == Act.RETURN:
        return services.return_report(pk, actor=user, reason=data["reason"])
    if act == Act.AMEND:
        return services.amend_report(
            pk,
            actor=user,
            reason=data["reason"],
            findings=data["findings"],
            impression=data["impression"],
            result_code=data["result_code"],
            result_display=data["result_display"],
            observations=form.observation_rows(),
            critical_description=data["critical_description"],
        )
    if act == Act.REJECT:
        return services.reject_order(pk, actor=user, reason=data["reason"])
    if act == Act.CANCEL:
        return services.cancel_order(pk, actor=user, reason=data["reason"])
    raise Http404


@login_required
@require_POST
def order_act(request, pk, action):
    order = selectors.order_or_404(request.user, pk)
    if action not in Act.__members__.values():
        raise Http404
    act = Act(action)
    form_class = _ACTION_FORMS.get(act)
    form = form_class(request.POST, prefix=act) if form_class else None
    if form is None or form.is_valid():
        try:
            _take(request, order, act, form)
        except ApplicationError as error:
            if form is None:
                messages.error(request, error.message)
                return redirect("diagnostics:order-detail", pk)
            _put_error(form, error)
        else:
            messages.success(request, _("%(action)s: done.") % {"action": ACTION_LABELS[act]})
            if act == Act.CLAIM:
                return redirect(f"{reverse('diagnostics:order-detail', args=[pk])}#action-{Act.SIGN}")
            return redirect("diagnostics:order-detail", pk)
    order.refresh_from_db()
    return render(request, "diagnostics/order_detail.html", _order_context(request, order, (act, form)), status=400)


@login_required
@require_POST
def order_attach(request, pk):
    order = selectors.order_or_404(request.user, pk)
    form = AttachmentForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.add_attachment(order.pk, actor=request.user, upload=form.cleaned_data["file"])
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("The file was attached."))
    else:
        messages.error(request, _("Choose a file to attach."))
    return redirect("diagnostics:order-detail", pk)


@login_required
@require_POST
def order_sample(request, pk):
    order = selectors.order_or_404(request.user, pk)
    form = SampleForm(request.POST)
    if form.is_valid():
        try:
            sample = services.add_sample(order.pk, actor=request.user, barcode=form.cleaned_data["barcode"])
            services.send_sample(sample.pk, actor=request.user)
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Sample %(barcode)s was labelled and sent.") % {"barcode": sample.barcode})
    return redirect("diagnostics:order-detail", pk)


@login_required
@require_GET
def attachment_download(request, pk, attachment_id):
    order = selectors.order_or_404(request.user, pk)
    attachment = get_object_or_404(order.attachments, pk=attachment_id)
    reason = "own_institution" if order.ordering_institution_id == _own_institution_id(request.user) else "diagnostic_order"
    log_patient_access(request.user, order.patient, request.path, reason)
    try:
        stream = storage.open_stream(attachment.file.name)  # from the platform's store, whichever machine saved it
    except FileNotFoundError:
        raise Http404 from None
    filename = f"{order.accession}-{attachment.pk}{attachment.file.name[-4:]}"
    return attachment_response(stream, content_type=attachment.content_type, filename=filename, size=attachment.size)


# --- the centre ------------------------------------------------------------------------------------


@login_required
@require_GET
def worklist(request, pk):
    centre = selectors.worklist_centre_or_404(request.user, pk)
    modality = request.GET.get("modality", "")
    institution = request.GET.get("institution", "")
    offered, served = selectors.worklist_choices(centre)
    labels = dict(Modality.choices)
    context = {
        "centre": centre,
        "page": selectors.worklist_page(
            centre,
            modality=modality,
            institution_id=int(institution) if institution.isdigit() else None,
            page=request.GET.get("page"),
        ),
        "modality": modality,
        "institution": institution,
        "modalities": [(m, labels.get(m, m)) for m in offered],
        "institutions": served,
        "samples": selectors.incoming_samples(centre)[:100],
        "sample_form": SampleForm(),
        "is_reader": centre.is_reader,
    }
    return render(request, "diagnostics/worklist.html", context)


@login_required
@require_POST
def claim_next(request, pk):
    centre = selectors.centre_or_404(request.user, pk)
    try:
        order = services.claim_next(centre.pk, actor=request.user, modality=request.POST.get("modality", ""))
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("diagnostics:worklist", pk)
    if order is None:
        messages.info(request, _("Nothing is waiting to be read."))
        return redirect("diagnostics:worklist", pk)
    return redirect("diagnostics:order-detail", order.pk)


@login_required
@require_POST
def receive_sample(request, pk):
    centre = selectors.centre_or_404(request.user, pk)
    form = SampleForm(request.POST)
    if form.is_valid():
        try:
            sample = services.receive_sample(actor=request.user, centre=centre, barcode=form.cleaned_data["barcode"])
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Sample %(barcode)s received.") % {"barcode": sample.barcode})
    return redirect("diagnostics:worklist", pk)


@login_required
@require_POST
def reject_sample(request, pk, sample_id):
    centre = selectors.centre_or_404(request.user, pk)
    sample = get_object_or_404(selectors.incoming_samples(centre), pk=sample_id)
    try:
        services.reject_sample(sample.pk, actor=request.user, reason=request.POST.get("reason", ""))
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Sample %(barcode)s rejected.") % {"barcode": sample.barcode})
    return redirect("diagnostics:worklist", pk)


# --- critical values -------------------------------------------------------------------------------


@login_required
@require_GET
def critical_log(request):
    if not can_anywhere(request.user, Action.VIEW_DIAGNOSTICS):
        raise Http404
    values = selectors.visible_critical_values(request.user)
    status = request.GET.get("status", "")
    if status:
        values = values.filter(status=status)
    context = {
        "page": Paginator(values, 50).get_page(request.GET.get("page")),
        "status": status,
        "statuses": CriticalStatus.choices,
        "summary": critical_summary(selectors.visible_critical_values(request.user)),
    }
    return render(request, "diagnostics/critical_log.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def critical_detail(request, pk):
    value = selectors.critical_or_404(request.user, pk)
    may_act = can(request.user, Action.ACKNOWLEDGE_CRITICAL, value.order.ordering_institution_id)
    ack_form = AcknowledgeForm(request.POST if request.POST.get("act") == "acknowledge" else None)
    close_form = CloseCriticalForm(request.POST if request.POST.get("act") == "close" else None)
    if request.method == "POST" and may_act:
        try:
            if request.POST.get("act") == "acknowledge" and ack_form.is_valid():
                critical.acknowledge_critical(value.pk, actor=request.user, note=ack_form.cleaned_data["note"])
                messages.success(request, _("Critical value acknowledged."))
                return redirect("diagnostics:critical-detail", pk)
            if request.POST.get("act") == "close" and close_form.is_valid():
                critical.close_critical(value.pk, actor=request.user, action_taken=close_form.cleaned_data["action_taken"])
                messages.success(request, _("Critical value closed."))
                return redirect("diagnostics:critical-detail", pk)
        except ApplicationError as error:
            _put_error(close_form if request.POST.get("act") == "close" else ack_form, error)
    open_acts = {act for (status, act) in CRITICAL_TRANSITIONS if status == value.status}
    context = {
        "value": value,
        "events": value.events.select_related("actor__staff"),
        "ack_form": ack_form if may_act and CriticalAct.ACKNOWLEDGE in open_acts else None,
        "close_form": close_form if may_act and CriticalAct.CLOSE in open_acts else None,
    }
    return render(request, "diagnostics/critical_detail.html", context, status=400 if request.method == "POST" else 200)


# --- consultations ---------------------------------------------------------------------------------


@login_required
@require_GET
@audited_list(PurposeOfUse.TREATMENT)
def consultation_list(request):
    if not can_anywhere(request.user, Action.VIEW_DIAGNOSTICS):
        raise Http404
    page = Paginator(selectors.visible_consultations(request.user), 50).get_page(request.GET.get("page"))
    listed(page.object_list)
    return render(request, "diagnostics/consultation_list.html", {"page": page})


@login_required
@require_http_methods(["GET", "POST"])
def consultation_create(request):
    encounter = _ordering_visit(request)
    form = ConsultationForm(request.POST or None, centres=consultations_centres(encounter.institution_id))
    if request.method == "POST" and form.is_valid():
        try:
            consultation = consultations.request_consultation(
                actor=request.user,
                encounter=encounter,
                centre=form.cleaned_data["centre"],
                question=form.cleaned_data["question"],
            )
        except ApplicationError as error:
            _put_error(form, error)
        else:
            messages.success(request, _("The consultation was requested."))
            return redirect("diagnostics:consultation-detail", consultation.pk)
    return render(
        request, "diagnostics/consultation_form.html", {"form": form, "encounter": encounter, "patient": encounter.patient}
    )


_CONSULTATION_FORMS = {
    ConsultationAct.SCHEDULE: ConsultationScheduleForm,
    ConsultationAct.GIVE_OPINION: OpinionForm,
    ConsultationAct.DECLINE: ReasonForm,
    ConsultationAct.CANCEL: ReasonForm,
}


@login_required
@require_http_methods(["GET", "POST"])
def consultation_detail(request, pk):
    consultation = selectors.consultation_or_404(request.user, pk)
    posted = request.POST.get("act", "") if request.method == "POST" else ""
    centre_side = can(request.user, Action.RUN_DIAGNOSTIC_CENTRE, consultation.centre.institution_id)
    clinic_side = can(request.user, Action.ORDER_DIAGNOSTICS, consultation.requesting_institution_id)
    forms_open = []
    for (status, act), transition in CONSULTATION_TRANSITIONS.items():
        if status != consultation.status:
            continue
        if (transition.side == "centre" and centre_side) or (transition.side == "clinic" and clinic_side):
            form_class = _CONSULTATION_FORMS[act]
            form = form_class(request.POST if posted == act else None, prefix=act)
            forms_open.append((act, ACTION_LABELS.get(act, _("Cancel")) if act != ConsultationAct.CANCEL else _("Cancel"), form))
    if posted:
        for act, _label, form in forms_open:
            if act != posted or not form.is_valid():
                continue
            data = form.cleaned_data
            try:
                if act == ConsultationAct.SCHEDULE:
                    consultations.schedule_consultation(pk, actor=request.user, **data)
                elif act == ConsultationAct.GIVE_OPINION:
                    consultations.give_opinion(pk, actor=request.user, **data)
                elif act == ConsultationAct.DECLINE:
                    consultations.decline_consultation(pk, actor=request.user, reason=data["reason"])
                else:
                    consultations.cancel_consultation(pk, actor=request.user, reason=data["reason"])
            except ApplicationError as error:
                _put_error(form, error)
            else:
                messages.success(request, _("The consultation was updated."))
                return redirect("diagnostics:consultation-detail", pk)
    context = {
        "consultation": consultation,
        "forms_open": forms_open,
        "events": consultation.events.select_related("actor__staff"),
        "referral_link": consultations.referral_link(consultation) if clinic_side and consultation.status == "completed" else "",
    }
    return render(request, "diagnostics/consultation_detail.html", context, status=400 if posted else 200)


# --- notifications ---------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def notifications(request):
    rows = selectors.notifications_for(request.user)
    if request.method == "POST":
        rows.filter(is_read=False).update(is_read=True)
        return redirect("diagnostics:notifications")
    return render(request, "diagnostics/notifications.html", {"page": Paginator(rows, 50).get_page(request.GET.get("page"))})


# --- configuration ---------------------------------------------------------------------------------


def _configurable_centres(user):
    ids = institution_ids_for(user, Action.CONFIGURE_DIAGNOSTICS)
    centres = Centre.objects.select_related("institution", "consortium").prefetch_related(
        "services", "readers__staff", "served_institutions"
    )
    return centres if ids is None else centres.filter(institution_id__in=ids)


@login_required
@require_GET
def centre_list(request):
    if not can_anywhere(request.user, Action.CONFIGURE_DIAGNOSTICS):
        raise Http404
    return render(request, "diagnostics/centre_list.html", {"centres": _configurable_centres(request.user)})


def _admin_consortium(user):
    staff = staff_of(user)
    if staff is not None and staff.consortium_id:
        return staff.consortium
    from consortium.models import Membership

    membership = Membership.objects.active().filter(institution_id=getattr(staff, "institution_id", None)).first()
    return membership.consortium if membership else None


@login_required
@require_http_methods(["GET", "POST"])
def centre_edit(request, pk=None):
    if not can_anywhere(request.user, Action.CONFIGURE_DIAGNOSTICS):
        raise Http404
    centre = get_object_or_404(_configurable_centres(request.user), pk=pk) if pk else None
    consortium = centre.consortium if centre else _admin_consortium(request.user)
    if consortium is None:
        raise Http404
    institutions = member_institutions(consortium)
    form = CentreForm(request.POST or None, instance=centre, institutions=institutions, initial={"consortium": consortium})
    service_form = ServiceForm(request.POST if request.POST.get("form") == "service" else None, prefix="service")
    reader_form = (
        ReaderForm(request.POST if request.POST.get("form") == "reader" else None, centre=centre, prefix="reader")
        if centre
        else None
    )
    if request.method == "POST":
        which = request.POST.get("form", "centre")
        try:
            if which == "centre" and form.is_valid():
                saved = form.save(commit=False)
                catalogue.save_centre(
                    actor=request.user, centre=saved, served_ids=[i.pk for i in form.cleaned_data["served_institutions"]]
                )
                messages.success(request, _("The centre was saved."))
                return redirect("diagnostics:centre-edit", saved.pk)
            if which == "service" and centre and service_form.is_valid():
                service = service_form.save(commit=False)
                service.centre = centre
                catalogue.save_service(actor=request.user, service=service)
                messages.success(request, _("The service was added."))
                return redirect("diagnostics:centre-edit", centre.pk)
            if which == "reader" and centre and reader_form.is_valid():
                data = reader_form.cleaned_data
                reader = Reader(
                    centre=centre, staff=data["staff"], modalities=data["modalities"], qualification=data["qualification"]
                )
                catalogue.save_reader(actor=request.user, reader=reader)
                messages.success(request, _("The reader was added."))
                return redirect("diagnostics:centre-edit", centre.pk)
        except ApplicationError as error:
            _put_error({"centre": form, "service": service_form, "reader": reader_form}.get(which) or form, error)
    context = {
        "centre": centre,
        "form": form,
        "service_form": service_form,
        "reader_form": reader_form,
        "imaging": IMAGING_MODALITIES,
    }
    return render(request, "diagnostics/centre_edit.html", context, status=400 if request.method == "POST" else 200)


@login_required
@require_GET
def indicators(request):
    """Turnaround by centre and urgency, township coverage, critical values in time, recognition."""
    from . import indicators as figures

    if not can_anywhere(request.user, Action.VIEW_DIAGNOSTICS):
        raise Http404
    consortium = _admin_consortium(request.user)
    visible = selectors.visible_orders(request.user)
    centres = Centre.objects.filter(
        Q(pk__in=visible.values("centre_id")) | Q(pk__in=selectors.centres_for(request.user).values("pk"))
    )
    context = {
        "turnaround": figures.turnaround(list(centres)),
        "coverage": figures.township_coverage(consortium) if consortium else [],
        "critical": critical_summary(selectors.visible_critical_values(request.user)),
        "recognition": figures.recognition_summary(
            figures.RecognitionDecision.objects.filter(
                Q(institution_id__in=institution_ids_for(request.user, Action.VIEW_DIAGNOSTICS) or [])
                | Q(prior_order__in=visible)
            )
            if not request.user.is_superuser
            else None
        ),
    }
    return render(request, "diagnostics/indicators.html", context)
