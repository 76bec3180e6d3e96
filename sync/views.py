"""The sync monitor pages: per institution status, failures with retry and replay, batch reports."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from consortium import approvals
from consortium import selectors as consortium_selectors
from consortium.errors import ApplicationError
from consortium.forms import apply_service_error
from consortium.models import HOSPITAL_LEVELS, MachineAccessKind
from consortium.permissions import Action, can_anywhere, get_scoped_or_404

from . import deliveries, endpoints, selectors
from .conf import sync_setting
from .forms import EndpointChangeForm, EndpointForm
from .models import Delivery, Endpoint


@login_required
@require_GET
def monitor(request):
    if not can_anywhere(request.user, Action.VIEW_SYNC_MONITOR):
        raise PermissionDenied
    context = {
        "overview": selectors.monitor_overview(request.user),
        "failures": selectors.failing_deliveries(request.user),
        "batches": selectors.recent_batches(request.user),
        "dead_letter_after": sync_setting("SYNC_MAX_ATTEMPTS"),
        "can_register": can_anywhere(request.user, Action.MANAGE_MACHINE_ACCESS)
        or can_anywhere(request.user, Action.REQUEST_MACHINE_ACCESS),
    }
    return render(request, "sync/monitor.html", context)


def _machine_institutions(user):
    """Hospitals whose endpoints the user changes directly or requests changes of."""
    return consortium_selectors.machine_access_institutions(user).filter(level__in=HOSPITAL_LEVELS)


@login_required
@require_GET
def endpoint_list(request):
    """The hospitals' push endpoints the user changes directly or requests changes of."""
    institutions = _machine_institutions(request.user)
    if not institutions.exists():
        raise PermissionDenied
    endpoint_rows = list(Endpoint.objects.filter(institution__in=institutions).select_related("institution"))
    for endpoint in endpoint_rows:
        endpoint.direct = approvals.may_manage(request.user, institution=endpoint.institution)
    return render(request, "sync/endpoint_list.html", {"endpoints": endpoint_rows})


@login_required
def endpoint_new(request):
    """Register a hospital endpoint; the signing secret is shown once, on the answer page.

    A consortium administrator's registration becomes a request a second administrator approves.
    """
    institutions = _machine_institutions(request.user)
    if not institutions.exists():
        raise PermissionDenied
    form = EndpointForm(request.POST or None, institutions=institutions.order_by("code"))
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        reason = data.pop("reason", "")
        try:
            if approvals.may_manage(request.user, institution=data["institution"]):
                endpoint = endpoints.register_endpoint(actor=request.user, **data)
                return render(request, "sync/endpoint_created.html", {"endpoint": endpoint})
            approvals.request_machine_access(
                actor=request.user,
                kind=MachineAccessKind.ENDPOINT_REGISTER,
                institution=data.pop("institution"),
                payload=data,
                reason=reason,
            )
        except (ValidationError, ApplicationError) as exc:
            apply_service_error(form, exc)
        else:
            messages.success(request, _("Your request waits for a second administrator's approval."))
            return redirect("machine-access")
    return render(request, "sync/endpoint_form.html", {"form": form})


def _managed_endpoint(request, pk) -> Endpoint:
    endpoint = Endpoint.objects.filter(pk=pk, institution__in=_machine_institutions(request.user)).select_related("institution")
    found = endpoint.first()
    if found is None:
        raise Http404
    return found


@login_required
def endpoint_edit(request, pk):
    endpoint = _managed_endpoint(request, pk)
    initial = {"name": endpoint.name, "url": endpoint.url, "events": endpoint.events}
    form = EndpointChangeForm(request.POST or None, initial=initial)
    direct = approvals.may_manage(request.user, institution=endpoint.institution)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        reason = data.pop("reason", "")
        changes = {key: value for key, value in data.items() if value != initial[key]}
        try:
            if direct:
                endpoints.change_endpoint(actor=request.user, endpoint=endpoint, changes=changes)
                messages.success(request, _("The endpoint is changed."))
            else:
                approvals.request_machine_access(
                    actor=request.user,
                    kind=MachineAccessKind.ENDPOINT_CHANGE,
                    institution=endpoint.institution,
                    endpoint_id=endpoint.pk,
                    payload=changes,
                    reason=reason,
                )
                messages.success(request, _("Your request waits for a second administrator's approval."))
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            return redirect("sync-endpoint-list")
    return render(request, "sync/endpoint_edit.html", {"form": form, "endpoint": endpoint, "direct": direct})


@login_required
@require_POST
def endpoint_deactivate(request, pk):
    endpoint = _managed_endpoint(request, pk)
    try:
        if approvals.may_manage(request.user, institution=endpoint.institution):
            endpoints.deactivate_endpoint(actor=request.user, endpoint=endpoint)
            messages.success(request, _("The endpoint is deactivated; its pending deliveries are cancelled."))
        else:
            approvals.request_machine_access(
                actor=request.user,
                kind=MachineAccessKind.ENDPOINT_DEACTIVATE,
                institution=endpoint.institution,
                endpoint_id=endpoint.pk,
                reason=request.POST.get("reason", ""),
            )
            messages.success(request, _("Your request waits for a second administrator's approval."))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("sync-endpoint-list")


@login_required
@require_GET
def batch_detail(request, pk):
    batch = get_object_or_404(selectors.batches_for(request.user), pk=pk)
    return render(request, "sync/batch_detail.html", {"batch": batch})


def _delivery(request, pk) -> Delivery:
    return get_scoped_or_404(
        Delivery.objects.select_related("endpoint__institution"), request.user, Action.MANAGE_SYNC, "endpoint__institution", pk=pk
    )


@login_required
@require_POST
def delivery_retry(request, pk):
    try:
        deliveries.retry_delivery_now(actor=request.user, delivery=_delivery(request, pk))
        messages.success(request, _("The delivery will be tried again now."))
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    return redirect("sync-monitor")


@login_required
@require_POST
def delivery_replay(request, pk):
    try:
        deliveries.replay_delivery(actor=request.user, delivery=_delivery(request, pk))
        messages.success(request, _("The event will be sent again."))
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    return redirect("sync-monitor")


@login_required
@require_POST
def endpoint_replay_dead(request, pk):
    endpoint = get_scoped_or_404(Endpoint.objects.select_related("institution"), request.user, Action.MANAGE_SYNC, pk=pk)
    count = deliveries.replay_dead_deliveries(actor=request.user, endpoint=endpoint)
    messages.success(request, _("%(count)d dead-lettered deliveries will be sent again.") % {"count": count})
    return redirect("sync-monitor")
